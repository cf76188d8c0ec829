using System.Diagnostics;
using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Cli.Tests;

/// <summary><c>governor ps</c> and <c>governor status</c> against real processes, live over EventPipe.</summary>
[Collection(ProcessCollection.Name)]
public sealed class StatusTests
{
    private const string ProbeRule = "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata:\n  name: p\nspec:\n  threshold: {0}\n";

    [Fact]
    public void Ps_ProcessWithAgentAndProcessWithout_TellsThemApartAndShowsTheVersion()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");
        home.AddTestPlugin("off", "Governor.TestPlugins.ProbePlugin", enabledByDefault: false);
        using var with = AppProcess.StartWeb(app, AppProcess.FreePort(), home.Environment());
        using var without = AppProcess.StartWeb(app, AppProcess.FreePort());
        home.Status(with.Id).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started");

        var clock = Stopwatch.StartNew();
        var json = CliRunner.Run("ps", "--json");
        clock.Stop();
        var table = CliRunner.Run("ps");

        Assert.True(json.ExitCode == 0, json.ToString());
        var rows = JsonDocument.Parse(json.Stdout).RootElement.EnumerateArray().ToList();
        var a = rows.Single(r => r.GetProperty("pid").GetInt32() == with.Id);
        Assert.True(a.GetProperty("governor").GetBoolean());
        Assert.Equal("0.1.0", a.GetProperty("version").GetString());
        Assert.Equal("WebApp", a.GetProperty("app").GetString());
        Assert.Equal("eventpipe", a.GetProperty("source").GetString());
        Assert.Equal(1, a.GetProperty("plugins").GetProperty("started").GetInt32());
        Assert.Equal(2, a.GetProperty("plugins").GetProperty("total").GetInt32());
        var b = rows.Single(r => r.GetProperty("pid").GetInt32() == without.Id);
        Assert.False(b.GetProperty("governor").GetBoolean());
        Assert.Equal("DOTNET_STARTUP_HOOKS does not name Governor.StartupHook.dll", b.GetProperty("note").GetString());
        // Every process is asked at once, each bounded by the 1 s default timeout.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"ps took {clock.Elapsed}");

        Assert.True(table.ExitCode == 0, table.ToString());
        string withLine = table.Stdout.Split('\n').Single(l => l.StartsWith($"{with.Id} ", StringComparison.Ordinal));
        Assert.Matches(@"^\d+\s+0\.1\.0\s+1/2 started\s+WebApp\s+dotnet ", withLine);
        string withoutLine = table.Stdout.Split('\n').Single(l => l.StartsWith($"{without.Id} ", StringComparison.Ordinal));
        Assert.Matches(@"^\d+\s+-\s+-\s+-\s+dotnet ", withoutLine);
        Assert.StartsWith("PID", table.Stdout);
    }

    [Fact]
    public void Status_OneShot_ShowsPluginStatesReasonsInterceptionPointsAndCounters()
    {
        var (app, home) = Start(out var process);
        using (home)
        using (process)
        {
            var result = CliRunner.Run("status", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

            Assert.True(result.ExitCode == 0, result.ToString());
            string o = result.Stdout;
            Assert.Contains($"Governor 0.1.0 · pid {process.Id} · app WebApp · tag (base)", o);
            Assert.Contains("live (EventPipe)", o);
            Assert.Matches(@"probe\s+1\.0\.0\s+Started\s+inbound\s+[\d.]+ ms\s+setting color=blue", o);
            Assert.Matches(@"other\s+1\.0\.0\s+Disabled\s+-\s+-\s+disabled by GOVERNOR_PLUGINS_DISABLED", o);
            Assert.Matches(@"inbound\s+\(not provided\)", o);
            Assert.Contains("· 1 document(s) · 0 errors", o);
            Assert.Contains("Resources of probe", o);
            Assert.Matches(@"RESOURCE\s+STATE\s+changes\s+documents\s+thresholdSum", o);
            Assert.Matches(@"rules\s+version \d+\s+0\s+1\s+5", o);
            Assert.Equal(string.Empty, result.Stderr);
        }
    }

    [Fact]
    public void Status_PluginDisabledInGovernorJson_WatchJsonAndOneShotReflectItWithinTwoSeconds()
    {
        var (_, home) = Start(out var process);
        using (home)
        using (process)
        {
            string pid = process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal("Started", StatusFile.PluginState(Json(CliRunner.Run("status", pid, "--json")), "probe"));
            using var watch = CliRunner.Start(new[] { "status", pid, "--watch", "--json" });
            Assert.True(watch.WaitForOutput("\"state\":\"Started\"", TimeSpan.FromSeconds(10)), watch.Output);

            var clock = Stopwatch.StartNew();
            home.WriteConfig("""{ "plugins": { "probe": { "enabled": false } } }""");

            // Live: the watch shows it within 2 s of the change.
            Assert.True(watch.WaitForOutput("disabled by governor.json (plugins:probe:enabled)", TimeSpan.FromSeconds(2)), $"--watch --json did not show probe Disabled within 2 s:\n{watch.Output}");
            var line = watch.Output.Split('\n').First(l => l.Contains("disabled by governor.json", StringComparison.Ordinal));
            Assert.Equal("Disabled", StatusFile.PluginState(JsonDocument.Parse(line).RootElement, "probe"));

            // One-shot, a new CLI process each time (its own start-up included in the budget).
            var seen = CliRunner.WaitFor(() => CliRunner.Run("status", pid, "--json"), r => r.ExitCode == 0 && StatusFile.PluginState(Json(r), "probe") == "Disabled", TimeSpan.FromSeconds(3), "probe Disabled");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"one-shot status showed probe Disabled only after {clock.Elapsed}");
            Assert.Equal("disabled by governor.json (plugins:probe:enabled)", StatusFile.PluginReason(Json(seen), "probe"));
            Assert.Equal(string.Empty, seen.Stderr);

            var human = CliRunner.Run("status", pid);
            Assert.Matches(@"probe\s+1\.0\.0\s+Disabled\s+inbound\s+.*disabled by governor\.json \(plugins:probe:enabled\)", human.Stdout);
        }
    }

    [Fact]
    public void Status_RuleFileRewritten_WatchJsonAndOneShotShowTheNewCountersWithinTwoSeconds()
    {
        var (_, home) = Start(out var process);
        using (home)
        using (process)
        {
            string pid = process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            using var watch = CliRunner.Start(new[] { "status", pid, "--watch", "--json" });
            Assert.True(watch.WaitForOutput("\"thresholdSum\":5", TimeSpan.FromSeconds(10)), watch.Output);

            var clock = Stopwatch.StartNew();
            home.WriteRule("probe.yaml", string.Format(System.Globalization.CultureInfo.InvariantCulture, ProbeRule, 9));
            Assert.True(watch.WaitForOutput("\"thresholdSum\":9", TimeSpan.FromSeconds(2)), $"--watch --json did not show thresholdSum 9 within 2 s:\n{watch.Output}");
            Assert.Contains("\"changes\":1", watch.Output.Split('\n').Last(l => l.Contains("\"thresholdSum\":9", StringComparison.Ordinal)));
            // One JSON document per line, each a whole status.
            Assert.All(watch.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("{\"schema\":\"governor-status/v1\"", l));

            var human = CliRunner.Run("status", pid);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"took {clock.Elapsed}");
            Assert.Matches(@"rules\s+version \d+\s+1\s+1\s+9", human.Stdout);

            // When the process exits, the watch ends by itself.
            process.Terminate();
            Assert.True(watch.WaitForExit(TimeSpan.FromSeconds(15)), watch.Output);
            Assert.Equal(0, watch.ExitCode);
            Assert.Contains($"governor: process {pid} exited.", watch.Output);
        }
    }

    [Fact]
    public void Status_WatchOnATerminal_RefreshesInPlaceWithColorsAndNoColorTurnsThemOff()
    {
        var (_, home) = Start(out var process);
        using (home)
        using (process)
        {
            string pid = process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // 'script' gives the CLI a pseudo-terminal, as an operator's shell would.
            string command = $"timeout -s INT 2.5 dotnet {CliRunner.CliPath} status {pid} --watch";
            var colored = TestApps.Run("script", $"-qec \"{command}\" /dev/null", TimeSpan.FromSeconds(20));
            Assert.Contains("\u001b[H\u001b[2J", colored.Output);
            Assert.Contains("\u001b[32mStarted\u001b[0m", colored.Output);
            Assert.True(colored.Output.Split("\u001b[H\u001b[2J").Length >= 3, $"expected at least two frames:\n{colored.Output}");

            var plain = TestApps.Run("script", $"-qec \"env NO_COLOR=1 {command}\" /dev/null", TimeSpan.FromSeconds(20));
            Assert.Contains("\u001b[H\u001b[2J", plain.Output);
            Assert.DoesNotContain("\u001b[32m", plain.Output);
            Assert.Matches(@"probe\s+1\.0\.0\s+Started", plain.Output);
        }
    }

    [Fact]
    public void Status_TargetsThatCannotAnswer_ClearErrorsAndExitCodes()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var bare = AppProcess.StartWeb(app, AppProcess.FreePort());
        using var sleeper = AppProcess.Start("sleep", "30");

        var missing = CliRunner.Run("status", "999999");
        Assert.True(missing.ExitCode == 3, missing.ToString());
        Assert.Contains("governor: error: no process with id 999999.", missing.Stderr);

        var notDotNet = CliRunner.Run("status", sleeper.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(notDotNet.ExitCode == 3, notDotNet.ToString());
        Assert.Contains($"process {sleeper.Id} (sleep 30) is not a .NET process with a diagnostic port.", notDotNet.Stderr);

        var noAgent = CliRunner.Run("status", bare.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--timeout", "1");
        Assert.True(noAgent.ExitCode == 4, noAgent.ToString());
        Assert.Contains($"Governor is not loaded in process {bare.Id}", noAgent.Stderr);
        Assert.Contains("DOTNET_STARTUP_HOOKS does not name Governor.StartupHook.dll", noAgent.Stderr);
        Assert.Contains("governor run -- <command>", noAgent.Stderr);

        var notANumber = CliRunner.Run("status", "abc");
        Assert.True(notANumber.ExitCode == 2, notANumber.ToString());
        Assert.Contains("'abc' is not a process id", notANumber.Stderr);

        var badTimeout = CliRunner.Run("status", "1", "--timeout", "soon");
        Assert.True(badTimeout.ExitCode == 2, badTimeout.ToString());
        Assert.Contains("--timeout 'soon' is not valid", badTimeout.Stderr);
    }

    private static JsonElement Json(CliResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        using var doc = JsonDocument.Parse(result.Stdout);
        return doc.RootElement.Clone();
    }

    // A WebApp with the agent: probe (owns ProbeRule, threshold 5) and other (disabled by env).
    private static (PublishedApp App, AgentHomeCopy Home) Start(out AppProcess process)
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" }, interceptionPoints: new[] { "inbound" });
        home.AddTestPlugin("other", "Governor.TestPlugins.ProbePlugin");
        home.WriteRule("probe.yaml", string.Format(System.Globalization.CultureInfo.InvariantCulture, ProbeRule, 5));
        process = AppProcess.StartWeb(app, AppProcess.FreePort(), home.Environment(new() { ["GOVERNOR_PLUGINS_DISABLED"] = "other" }));
        home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started");
        return (app, home);
    }
}
