using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Core.Tests.Process;

/// <summary>
/// The agent attached to real app processes through DOTNET_STARTUP_HOOKS only. These start
/// processes, so they run one at a time (2 cores) in their own collection.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class AgentProcessTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Theory]
    [InlineData("net8.0", ".NET 8.")]
    [InlineData("net9.0", ".NET 9.")]
    [InlineData("net10.0", ".NET 10.")]
    public async Task Agent_AttachedToWebAppOnEachRuntime_AppServesAndEveryPluginStarts(string tfm, string runtime)
    {
        var app = TestApps.Publish("tests/apps/WebApp", tfm);
        using var home = new AgentHomeCopy();
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());

        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        Assert.StartsWith(runtime, await s_http.GetStringAsync($"http://127.0.0.1:{port}/runtime"));
        var status = home.Status(process.Id).WaitFor(s => s.TryGetProperty("summary", out var sum) && sum.GetString()!.Length > 0, what: "a summary");
        var plugins = status.GetProperty("plugins").EnumerateArray().ToList();
        string builtInDir = Path.Combine(RepoPaths.AgentHome, "plugins");
        int builtIn = Directory.Exists(builtInDir) ? Directory.GetDirectories(builtInDir).Length : 0;
        Assert.Equal(builtIn + 1, plugins.Count);
        Assert.All(plugins, p => Assert.True(p.GetProperty("state").GetString() == "Started", $"{p.GetProperty("name")} is {p.GetProperty("state")}: {p.GetProperty("reason")}"));
        Assert.Matches(@"^Governor 0\.1\.0: (\d+)/\1 plugins started in \d+ ms$", status.GetProperty("summary").GetString());
        // The app's own console output is untouched by the agent.
        Assert.DoesNotContain("Governor", process.Output);
    }

    [Fact]
    public async Task ReadyToRunLayout_FolderForTheRunningRuntime_IsLoadedBeforeTheIlBuild()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");
        // Release builds put ReadyToRun images compiled for each runtime in core/net<major>.0 and
        // plugins/<name>/net<major>.0; a folder for another runtime must be ignored.
        foreach (string dir in new[] { Path.Combine(home.Home, "core"), Path.Combine(home.PluginsDirectory, "probe") })
        {
            foreach (string existing in Directory.GetDirectories(dir, "net*"))
            {
                Directory.Delete(existing, recursive: true);
            }

            var files = Directory.GetFiles(dir, "*.dll");
            foreach (string runtime in new[] { "net10.0", "net9.0" })
            {
                Directory.CreateDirectory(Path.Combine(dir, runtime));
                foreach (string f in files.Where(f => !f.EndsWith("Serilog.dll", StringComparison.Ordinal)))
                {
                    File.Copy(f, Path.Combine(dir, runtime, Path.GetFileName(f)));
                }
            }
        }

        int port = AppProcess.FreePort();
        using var process = AppProcess.StartWeb(app, port, home.Environment());

        home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started");
        string assemblies = await s_http.GetStringAsync($"http://127.0.0.1:{port}/assemblies");
        Assert.Contains(Path.Combine(home.Home, "core", "net10.0", "Governor.Core.dll"), assemblies);
        Assert.Contains(Path.Combine(home.PluginsDirectory, "probe", "net10.0", "Governor.TestPlugins.dll"), assemblies);
        // Missing from the runtime folder: taken from the IL build.
        Assert.Contains(Path.Combine(home.Home, "core", "Serilog.dll"), assemblies);
        Assert.DoesNotContain("net9.0", assemblies);
    }

    [Fact]
    public async Task FaultyPlugins_ThrowOrHangOnStart_AreFailedAndTheRestOfTheAgentAndTheAppGoOn()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("thrower", "Governor.TestPlugins.ThrowOnStartPlugin", order: 0);
        home.AddTestPlugin("hanger", "Governor.TestPlugins.HangOnStartPlugin", order: 0, startTimeout: "1s");
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", order: 10, ruleKinds: new[] { "ProbeRule" });
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());

        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        var status = home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started", what: "probe Started");
        Assert.Equal("Failed", StatusFile.PluginState(status, "thrower"));
        Assert.Contains("start threw InvalidOperationException: boom at start", StatusFile.PluginReason(status, "thrower"));
        Assert.Equal("Failed", StatusFile.PluginState(status, "hanger"));
        Assert.Contains("did not start within 1 s", StatusFile.PluginReason(status, "hanger"));
        Assert.Contains("1/3 plugins started", status.GetProperty("summary").GetString());
        Assert.Contains("thrower failed: start threw", status.GetProperty("summary").GetString());
    }

    [Fact]
    public async Task Startup_GovernancePluginSlowToStart_MainRunsAlongsideAndTheFirstRequestWaitsForIt()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy();
        home.AddTestPlugin("slow", "Governor.TestPlugins.InboundBlockingPlugin", order: 0, interceptionPoints: new[] { "inbound" });
        int port = AppProcess.FreePort();
        var env = home.Environment(new Dictionary<string, string?>
        {
            ["GOVERNOR_PLUGINS__SLOW__STARTDELAY"] = "1500ms",
            ["GOVERNOR_PLUGINS__SLOW__PASSHEADER"] = "x-slow=started",
        });

        using var process = AppProcess.Start(app, $"--urls http://127.0.0.1:{port}", env);
        var first = await FirstSuccessfulResponse($"http://127.0.0.1:{port}/", process);

        // The server listened before the plugin had started, and the request waited for it.
        Assert.True(first.Headers.TryGetValues("x-slow", out var values), "the first request was answered before the slow plugin had started");
        Assert.Equal("started", values!.Single());
        var status = home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "slow") == "Started" && s.TryGetProperty("startupPhasesMs", out var p) && p.TryGetProperty("start", out _), what: "slow Started");
        var phases = status.GetProperty("startupPhasesMs");
        double main = phases.GetProperty("main").GetDouble();
        double started = phases.GetProperty("start").GetDouble();
        Assert.True(main < 1000, $"the app's Main waited {main} ms for the agent");
        Assert.True(started >= 1500, $"the plugins were reported started after {started} ms, before the slow one could be");
    }

    [Fact]
    public async Task Startup_BlockingMode_MainWaitsForEveryPlugin()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("slow", "Governor.TestPlugins.InboundBlockingPlugin", order: 0);
        int port = AppProcess.FreePort();
        var env = home.Environment(new Dictionary<string, string?>
        {
            ["GOVERNOR_PLUGINS__SLOW__STARTDELAY"] = "1000ms",
            ["GOVERNOR_STARTUP__MODE"] = "blocking",
        });

        using var process = AppProcess.StartWeb(app, port, env);

        var status = home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "slow") == "Started" && s.TryGetProperty("startupPhasesMs", out var p) && p.TryGetProperty("main", out _), what: "slow Started");
        double main = status.GetProperty("startupPhasesMs").GetProperty("main").GetDouble();
        Assert.True(main >= 1000, $"the app's Main ran after {main} ms, before the slow plugin had started");
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
    }

    [Fact]
    public async Task Startup_StartupModeMisspelled_WarnsNamingTheValuesAndStartsInTheBackground()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment(new Dictionary<string, string?> { ["GOVERNOR_STARTUP__MODE"] = "eager" }));

        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started");
        await WaitForLog(home, "governor:startup:mode");
        string logs = home.ReadLogs();
        Assert.Contains("'eager'", logs);
        Assert.Contains("use background", logs);
        Assert.Contains("or blocking", logs);
    }

    [Fact]
    public async Task Startup_WebAppWithoutHttpClientOrSql_LoadsNeitherSystemNetHttpNorAdoNet()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        // The shipped layout (ReadyToRun): an IL-only Debug home JIT-compiles the plugins, and the
        // JIT loads the assemblies a method names when it compiles it, used or not.
        using var home = new AgentHomeCopy(source: ReleaseAgentHome.Path);
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());
        var status = home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "httpclient") == "Started" && StatusFile.PluginState(s, "adonet") == "Started", what: "interception plugins Started");

        // What the interception plugins hook is loaded by the app when it uses it; an app that
        // never does pays neither the assemblies nor the patches.
        string assemblies = await s_http.GetStringAsync($"http://127.0.0.1:{port}/assemblies");
        foreach (string name in new[] { "System.Net.Http ", "System.Data.Common ", "System.Reflection.Metadata ", "System.Text.RegularExpressions " })
        {
            Assert.DoesNotContain(name, assemblies);
        }

        Assert.Contains("applied when the app loads System.Net.Http", StatusFile.PluginDetail(status, "httpclient"));
    }

    [Fact]
    public async Task FaultyPlugin_ThrowsOnStop_ProcessStillExitsCleanlyOnSigterm()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("stopthrower", "Governor.TestPlugins.ThrowOnStopPlugin");
        int port = AppProcess.FreePort();
        using var process = AppProcess.StartWeb(app, port, home.Environment());
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        var statusFile = home.Status(process.Id);
        statusFile.WaitFor(s => StatusFile.PluginState(s, "stopthrower") == "Started");

        process.Terminate();

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(15)), "the app did not exit after SIGTERM");
        Assert.Equal(0, process.ExitCode);
        string logs = home.ReadLogs();
        Assert.Contains("threw while stopping", logs);
        Assert.Contains("boom at stop", logs);
        Assert.Contains("Governor stopped", logs);
        Assert.False(File.Exists(statusFile.Path), "the status file of an exited process is removed");
    }

    [Theory]
    [InlineData("env-list", "disabled by GOVERNOR_PLUGINS_DISABLED")]
    [InlineData("env-switch", "disabled by GOVERNOR_PLUGINS__PROBE__ENABLED")]
    [InlineData("arg-switch", "disabled by --governor:plugins:probe:enabled")]
    [InlineData("arg-list", "disabled by --governor:plugins:disabled")]
    [InlineData("file", "disabled by governor.json (plugins:probe:enabled)")]
    [InlineData("config-path", "disabled by custom.json (plugins:disabled)")]
    [InlineData("arg-over-env", "enabled by --governor:plugins:probe:enabled")]
    [InlineData("env-over-file", "enabled by GOVERNOR_PLUGINS__PROBE__ENABLED")]
    public void Toggles_EachSourceAndPrecedence_DecideStateAndReason(string source, string expectedReason)
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        home.AddTestPlugin("other", "Governor.TestPlugins.ProbePlugin");
        var env = new Dictionary<string, string?>();
        string args = string.Empty;
        switch (source)
        {
            case "env-list":
                env["GOVERNOR_PLUGINS_DISABLED"] = "probe";
                break;
            case "env-switch":
                env["GOVERNOR_PLUGINS__PROBE__ENABLED"] = "false";
                break;
            case "arg-switch":
                args = "--governor:plugins:probe:enabled=false";
                break;
            case "arg-list":
                args = "--governor:plugins:disabled=probe";
                break;
            case "file":
                home.WriteConfig("""{ "plugins": { "probe": { "enabled": false } } }""");
                break;
            case "config-path":
                string custom = Path.Combine(home.Root, "custom.json");
                File.WriteAllText(custom, """{ "plugins": { "disabled": ["probe"] } }""");
                env["GOVERNOR_CONFIG"] = custom;
                break;
            case "arg-over-env":
                env["GOVERNOR_PLUGINS_DISABLED"] = "probe";
                args = "--governor:plugins:probe:enabled=true";
                break;
            case "env-over-file":
                home.WriteConfig("""{ "plugins": { "probe": { "enabled": false } } }""");
                env["GOVERNOR_PLUGINS__PROBE__ENABLED"] = "true";
                break;
        }

        int port = AppProcess.FreePort();
        using var process = AppProcess.StartWeb(app, port, home.Environment(env), extraArguments: args);

        var status = home.Status(process.Id).WaitFor(s => s.GetProperty("summary").GetString()!.Length > 0);
        string expectedState = expectedReason.StartsWith("enabled", StringComparison.Ordinal) ? "Started" : "Disabled";
        Assert.Equal(expectedState, StatusFile.PluginState(status, "probe"));
        Assert.Equal("Started", StatusFile.PluginState(status, "other"));
        if (expectedState == "Disabled")
        {
            Assert.Equal(expectedReason, StatusFile.PluginReason(status, "probe"));
            Assert.Contains($"(probe {expectedReason})", status.GetProperty("summary").GetString());
        }
        else
        {
            Assert.Null(StatusFile.PluginReason(status, "probe"));
        }
    }

    [Fact]
    public async Task Toggles_GovernorJsonChangedWhileRunning_PluginStopsAndStartsWithinTwoSeconds()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        int port = AppProcess.FreePort();
        using var process = AppProcess.StartWeb(app, port, home.Environment());
        var file = home.Status(process.Id);
        file.WaitFor(s => StatusFile.PluginState(s, "probe") == "Started");

        home.WriteConfig("""{ "plugins": { "probe": { "enabled": false } } }""");
        var off = file.WaitFor(s => StatusFile.PluginState(s, "probe") == "Disabled", TimeSpan.FromSeconds(2.5), "probe Disabled");
        Assert.Equal("disabled by governor.json (plugins:probe:enabled)", StatusFile.PluginReason(off, "probe"));
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));

        home.WriteConfig("""{ }""");
        file.WaitFor(s => StatusFile.PluginState(s, "probe") == "Started", TimeSpan.FromSeconds(2.5), "probe Started again");
    }

    [Fact]
    public async Task KillSwitch_GovernorEnabledFalse_AgentDoesNothingAndAppServes()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy();
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment(new() { ["GOVERNOR_ENABLED"] = "false" }));

        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        await Task.Delay(500);
        Assert.Empty(Directory.GetFiles(home.LogDirectory));
        Assert.DoesNotContain("Governor.Core", await s_http.GetStringAsync($"http://127.0.0.1:{port}/assemblies"));
    }

    [Fact]
    public async Task Exclusion_ProcessNamedInGovernorExcludeProcesses_IsSkipped()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy();
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment(new() { ["GOVERNOR_EXCLUDE_PROCESSES"] = "other, webapp" }));

        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        await Task.Delay(500);
        Assert.Empty(Directory.GetFiles(home.LogDirectory));
        Assert.DoesNotContain("Governor.Core", await s_http.GetStringAsync($"http://127.0.0.1:{port}/assemblies"));
    }

    [Fact]
    public void Exclusion_SdkToolsInheritingTheHook_NeverGetTheAgent()
    {
        using var home = new AgentHomeCopy();

        // The SDK's own managed entry point (dotnet.dll running MSBuild) with the hook inherited.
        using var process = AppProcess.Start("dotnet", "msbuild -version", home.Environment());

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Equal(0, process.ExitCode);
        Assert.Empty(Directory.GetFiles(home.LogDirectory));
    }

    [Fact]
    public async Task DoubleLoad_HookListedTwiceFromTwoHomes_OneAgentAndAWarning()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        using var second = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        var env = home.Environment(new() { ["DOTNET_STARTUP_HOOKS"] = $"{home.StartupHook}:{second.StartupHook}" });
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, env);

        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        var status = home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started");
        Assert.Single(status.GetProperty("plugins").EnumerateArray());
        await WaitForLog(home, "listed more than once in DOTNET_STARTUP_HOOKS");
        Assert.Single(Directory.GetFiles(home.LogDirectory, "governor-status-*.json"));
    }

    [Fact]
    public async Task Rules_ChangedWhileRunning_AppliedWithinTwoSecondsAndBadFileKeepsLastGood()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        home.WriteRule("probe.yaml", ProbeRule(5));
        int port = AppProcess.FreePort();
        using var process = AppProcess.StartWeb(app, port, home.Environment());
        var file = home.Status(process.Id);
        file.WaitFor(s => Gauge(s) == 5, what: "thresholdSum 5");

        home.WriteRule("probe.yaml", ProbeRule(9));
        file.WaitFor(s => Gauge(s) == 9, TimeSpan.FromSeconds(2.5), "thresholdSum 9 within 2 s");

        home.WriteRule("probe.yaml", ProbeRule(9).Replace("threshold: 9", "threshold: 0", StringComparison.Ordinal));
        var bad = file.WaitFor(s => s.GetProperty("rules").GetProperty("errors").GetArrayLength() > 0, TimeSpan.FromSeconds(2.5), "a rule error");
        Assert.Equal(9, Gauge(bad));
        string error = bad.GetProperty("rules").GetProperty("errors")[0].GetString()!;
        Assert.Contains("probe.yaml:6: spec.threshold: 0 is out of range; use 1 to 1000 (document 0)", error);
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        await WaitForLog(home, "the last good version (1 document(s)) stays in force");
    }

    [Fact]
    public async Task DependencyConflict_AppShipsOlderSerilogYamlDotNetAndCecil_BothAppAndAgentWork()
    {
        var app = TestApps.Publish("tests/apps/ConflictApp", "net10.0");
        using var home = new AgentHomeCopy();
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        home.WriteRule("probe.yaml", ProbeRule(3));
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());

        string result = await s_http.GetStringAsync($"http://127.0.0.1:{port}/conflict");
        Assert.Contains("serilog=2.0.0.0", result);
        Assert.Contains("yaml=11.0.0.0 sum=3", result);
        Assert.Contains("cecil=0.11.5.0", result);
        Assert.Contains("logfile=True", result);
        // The agent used its own YamlDotNet (rules parsed) and its own Serilog (log written).
        var status = home.Status(process.Id).WaitFor(s => Gauge(s) == 3, what: "the rule read by the agent");
        Assert.Equal("Started", StatusFile.PluginState(status, "probe"));
        await WaitForLog(home, "plugins started in");
    }

    [Fact]
    public async Task Settings_UnknownPluginNameAndBadLogLevel_WarnNamingTheFix()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment(new() { ["GOVERNOR_PLUGINS_DISABLED"] = "prob", ["GOVERNOR_LOG_LEVEL"] = "chatty" }));

        await WaitForLog(home, "Unknown plugin 'prob' in GOVERNOR_PLUGINS_DISABLED; known plugins: probe.");
        await WaitForLog(home, "governor:log:level = 'chatty' is not valid: use Verbose, Debug, Information, Warning, Error or Fatal");
        Assert.Equal("Started", StatusFile.PluginState(home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "probe") is not null), "probe"));
    }

    private static string ProbeRule(int threshold) => $"apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata:\n  name: p\nspec:\n  threshold: {threshold}\n";

    private static double? Gauge(JsonElement status)
    {
        foreach (var r in status.GetProperty("resources").EnumerateArray())
        {
            if (r.GetProperty("plugin").GetString() == "probe" && r.GetProperty("gauges").TryGetProperty("thresholdSum", out var v))
            {
                return v.GetDouble();
            }
        }

        return null;
    }

    /// <summary>Polls until the app answers 2xx (connection refused until the server listens); the response of that first request.</summary>
    private static async Task<HttpResponseMessage> FirstSuccessfulResponse(string url, AppProcess process)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            Assert.False(process.HasExited, $"the app exited: {process.Output}");
            try
            {
                var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return response;
                }

                response.Dispose();
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            Assert.True(DateTime.UtcNow < deadline, $"no successful response from {url} within 30 s");
            await Task.Delay(20);
        }
    }

    private static async Task WaitForLog(AgentHomeCopy home, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (home.ReadLogs().Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"The agent log never contained '{text}'. Log:\n{home.ReadLogs()}");
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "processes";
}
