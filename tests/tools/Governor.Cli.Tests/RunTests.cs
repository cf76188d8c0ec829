using Governor.Testing;
using Xunit;

namespace Governor.Cli.Tests;

/// <summary><c>governor run</c> against real processes.</summary>
[Collection(ProcessCollection.Name)]
public sealed class RunTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task Run_WebApp_AgentAttachedStatusFileAppearsAndAppSeesTheHook()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        using var other = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        int port = AppProcess.FreePort();

        // A Governor hook of another home inherited from the shell is replaced, not doubled.
        using var cli = CliRunner.Start(
            new[] { "run", "--home", home.Home, "--", "dotnet", Path.Combine(app.Directory, "WebApp.dll"), "--urls", $"http://127.0.0.1:{port}" },
            new Dictionary<string, string?> { ["GOVERNOR_LOG_DIR"] = home.LogDirectory, ["DOTNET_STARTUP_HOOKS"] = other.StartupHook });
        cli.WaitForHttp($"http://127.0.0.1:{port}/", TimeSpan.FromSeconds(30));

        Assert.Equal(home.StartupHook, await s_http.GetStringAsync($"http://127.0.0.1:{port}/env/DOTNET_STARTUP_HOOKS"));
        int appPid = PidListening(port);
        Assert.NotEqual(cli.Id, appPid);
        var status = home.Status(appPid).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started", what: "probe Started");
        Assert.Equal(home.Home, status.GetProperty("home").GetString());
        // The CLI process itself never writes a status file: it is excluded from the agent.
        Assert.False(File.Exists(home.Status(cli.Id).Path));
    }

    [Fact]
    public void Run_ShellCommandWithOptions_ChildSeesEveryVariableAndItsExitCodeIsReturned()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        home.AddTestPlugin("other", "Governor.TestPlugins.ProbePlugin");
        // The extension points: a variable for the whole home, one per plugin (only while enabled).
        Directory.CreateDirectory(Path.Combine(home.Home, "env.d"));
        File.WriteAllText(Path.Combine(home.Home, "env.d", "extra.env"), "# test\nGOVERNOR_TEST_EXTRA={home}/extra\n");
        File.WriteAllText(Path.Combine(home.PluginsDirectory, "probe", "plugin.env"), "GOVERNOR_TEST_PROBE=yes\n");
        File.WriteAllText(Path.Combine(home.PluginsDirectory, "other", "plugin.env"), "GOVERNOR_TEST_OTHER=yes\n");
        string script = "echo \"hooks=$DOTNET_STARTUP_HOOKS\"; echo \"disabled=$GOVERNOR_PLUGINS_DISABLED\"; echo \"rules=$GOVERNOR_RULES_DIR\"; "
            + "echo \"extra=$GOVERNOR_TEST_EXTRA\"; echo \"probe=$GOVERNOR_TEST_PROBE\"; echo \"other=${GOVERNOR_TEST_OTHER:-unset}\"; exit 7";

        // The shell already has a foreign hook and ours: the foreign one stays, ours is listed once.
        string foreign = Path.Combine(RepoPaths.TestPlugins, "Governor.TestPlugins.dll");

        var result = CliRunner.Run(
            new[] { "run", "--home", home.Home, "--plugins-disabled", "OTHER", "--rules", home.RulesDirectory, "--", "sh", "-c", script },
            new Dictionary<string, string?> { ["DOTNET_STARTUP_HOOKS"] = $"{home.StartupHook}:{foreign}" });

        Assert.True(result.ExitCode == 7, result.ToString());
        Assert.Contains($"hooks={foreign}:{home.StartupHook}\n", result.Stdout);
        Assert.Contains("disabled=other\n", result.Stdout);
        Assert.Contains($"rules={home.RulesDirectory}\n", result.Stdout);
        Assert.Contains($"extra={home.Home}/extra\n", result.Stdout);
        Assert.Contains("probe=yes\n", result.Stdout);
        Assert.Contains("other=unset\n", result.Stdout);
    }

    [Fact]
    public void Run_SigtermToTheCli_ForwardedAndAppShutsDownGracefullyWithItsExitCode()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");
        int port = AppProcess.FreePort();
        using var cli = CliRunner.Start(
            new[] { "run", "--home", home.Home, "--", "dotnet", Path.Combine(app.Directory, "WebApp.dll"), "--urls", $"http://127.0.0.1:{port}" },
            new Dictionary<string, string?> { ["GOVERNOR_LOG_DIR"] = home.LogDirectory });
        cli.WaitForHttp($"http://127.0.0.1:{port}/", TimeSpan.FromSeconds(30));
        CliRunner.WaitFor(home.ReadLogs, l => l.Contains("plugins started in", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the agent's summary");

        cli.Terminate();

        Assert.True(cli.WaitForExit(TimeSpan.FromSeconds(15)), "governor run did not exit after SIGTERM");
        Assert.Equal(0, cli.ExitCode);
        // The app got the signal: its agent stopped the normal way.
        Assert.Contains("Governor stopped", home.ReadLogs());
    }

    [Theory]
    [InlineData(new[] { "run", "--", "no-such-program-xyz" }, 127, "command 'no-such-program-xyz' not found")]
    [InlineData(new[] { "run" }, 2, "no program given to 'run'")]
    [InlineData(new[] { "run", "--plugins-disabled", "nosuch", "--", "true" }, 2, "--plugins-disabled names unknown plugin 'nosuch'")]
    [InlineData(new[] { "run", "--rules", "/no/such/rules", "--", "true" }, 2, "--rules '/no/such/rules' is not a directory")]
    [InlineData(new[] { "run", "--home", "/tmp", "--", "true" }, 2, "'/tmp' (from --home) is not a Governor agent home: Governor.StartupHook.dll is missing")]
    [InlineData(new[] { "run", "--bogus", "--", "true" }, 2, "unknown option '--bogus' for 'run'")]
    public void Run_BadArguments_ClearMessageAndDocumentedExitCode(string[] args, int exitCode, string message)
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");

        var result = CliRunner.Run(args, new Dictionary<string, string?> { ["GOVERNOR_HOME"] = home.Home });

        Assert.True(result.ExitCode == exitCode, result.ToString());
        Assert.Contains(message, result.Stderr);
        Assert.Contains("governor: error:", result.Stderr);
    }

    [Fact]
    public void Cli_StartedWithTheHookInItsEnvironment_NeverGetsTheAgentItself()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");

        var result = CliRunner.Run(new[] { "env" }, new Dictionary<string, string?> { ["DOTNET_STARTUP_HOOKS"] = home.StartupHook, ["GOVERNOR_LOG_DIR"] = home.LogDirectory });

        Assert.True(result.ExitCode == 0, result.ToString());
        // The home was found through the inherited hook, and the agent wrote nothing: not loaded.
        Assert.Contains($"(DOTNET_STARTUP_HOOKS)", result.Stdout);
        Assert.Empty(Directory.GetFiles(home.LogDirectory));
    }

    /// <summary>The pid of the WebApp started on <paramref name="port"/> by the CLI (found by its command line).</summary>
    public static int PidListening(int port)
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }

            try
            {
                string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains("/WebApp", StringComparison.Ordinal) && cmdline.Contains($":{port}", StringComparison.Ordinal) && !cmdline.Contains("Governor.Cli", StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
        }

        throw new InvalidOperationException($"no WebApp process listens on port {port}");
    }
}
