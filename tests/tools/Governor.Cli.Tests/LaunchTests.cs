using Governor.Testing;
using Xunit;

namespace Governor.Cli.Tests;

/// <summary><c>governor launch</c>: the agent applied over diagnostics IPC (ApplyStartupHook) to a suspended runtime.</summary>
[Collection(ProcessCollection.Name)]
public sealed class LaunchTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Theory]
    [InlineData("net10.0", ".NET 10.")]
    [InlineData("net8.0", ".NET 8.")]
    public async Task Launch_WebAppOnRuntime_AgentAttachedOverIpcWithoutTheHookInItsEnvironment(string tfm, string runtime)
    {
        var app = TestApps.Publish("tests/apps/WebApp", tfm);
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" });
        home.AddTestPlugin("other", "Governor.TestPlugins.ProbePlugin");
        int port = AppProcess.FreePort();
        var (file, args) = app.Command($"--urls http://127.0.0.1:{port}");

        using var cli = CliRunner.Start(
            new[] { "launch", "--home", home.Home, "--plugins-disabled", "other", "--" }.Concat(new[] { file }).Concat(args.Split(' ')),
            new Dictionary<string, string?> { ["GOVERNOR_LOG_DIR"] = home.LogDirectory });
        cli.WaitForHttp($"http://127.0.0.1:{port}/", TimeSpan.FromSeconds(30));

        Assert.StartsWith(runtime, await s_http.GetStringAsync($"http://127.0.0.1:{port}/runtime"));
        Assert.Equal(string.Empty, await s_http.GetStringAsync($"http://127.0.0.1:{port}/env/DOTNET_STARTUP_HOOKS"));
        // Set over IPC: the agent sees its settings, and the app's own children will not start suspended.
        Assert.Equal("other", await s_http.GetStringAsync($"http://127.0.0.1:{port}/env/GOVERNOR_PLUGINS_DISABLED"));
        Assert.Equal("0", await s_http.GetStringAsync($"http://127.0.0.1:{port}/env/DOTNET_DefaultDiagnosticPortSuspend"));
        int pid = RunTests.PidListening(port);
        var status = home.Status(pid).WaitFor(s => StatusFile.PluginState(s, "probe") == "Started", what: "probe Started");
        Assert.Equal("Disabled", StatusFile.PluginState(status, "other"));

        var live = CliRunner.Run("status", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(live.ExitCode == 0, live.ToString());
        Assert.Contains("live (EventPipe)", live.Stdout);

        cli.Terminate();
        Assert.True(cli.WaitForExit(TimeSpan.FromSeconds(15)), "governor launch did not exit after SIGTERM");
        Assert.Equal(0, cli.ExitCode);
    }

    [Fact]
    public void Launch_ProgramThatIsNotDotNet_FailsClearly()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);

        var result = CliRunner.Run("launch", "--home", home.Home, "--", "sh", "-c", "sleep 0.3");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("exited before its .NET runtime opened a diagnostic port", result.Stderr);
        Assert.Contains("use 'governor run' for scripts", result.Stderr);
    }
}
