using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Patching.Tests;

/// <summary>
/// The patch engine started by the real agent: tests/apps/WebApp (which knows nothing of Governor)
/// with an agent home attached through DOTNET_STARTUP_HOOKS only, on .NET 8 and .NET 10, with
/// the Debug home (IL only) and with a Release home (ReadyToRun images, built by
/// <see cref="ReleaseAgentHome"/> exactly as the shipped home is). The status file must report
/// <c>"patching": "available: ..."</c>, which the core writes only after the engine's startup
/// self-test passed in that process: a self-test broken by the agent's load context, by
/// ReadyToRun code or by the runtime fails these tests.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class AgentPatchingTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static TheoryData<string, string> Layouts => new()
    {
        { "net8.0", "debug" },
        { "net8.0", "release" },
        { "net10.0", "debug" },
        { "net10.0", "release" },
    };

    public static TheoryData<string> Frameworks => new() { "net8.0", "net10.0" };

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task Agent_AttachedByStartupHook_ReportsPatchingAvailableAfterSelfTest(string framework, string layout)
    {
        var app = TestApps.Publish("tests/apps/WebApp", framework);
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false, source: layout == "release" ? ReleaseAgentHome.Path : null);
        if (layout == "debug")
        {
            // artifacts/governor keeps ReadyToRun folders from any earlier Release build of an agent
            // project; the IL layout is what this case is about.
            foreach (string folder in Directory.GetDirectories(Path.Combine(home.Home, "core"), "net*"))
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());

        var status = home.Status(process.Id).WaitFor(s => Patching(s) is { } p && !p.StartsWith("starting:", StringComparison.Ordinal), what: "the patch engine's self-test outcome");
        string major = framework[3..^2];
        Assert.True(
            Patching(status)!.StartsWith($"available: JIT hook + code redirection on .NET {major}.", StringComparison.Ordinal),
            $"patching is '{Patching(status)}'. Agent log:\n{home.ReadLogs()}");
        Assert.Contains("patch engine ready", home.ReadLogs(), StringComparison.Ordinal);
        Assert.Contains("JIT hook installed (native)", home.ReadLogs(), StringComparison.Ordinal);

        // The Release layout must really have run the engine from its ReadyToRun image.
        string assemblies = await s_http.GetStringAsync($"http://127.0.0.1:{port}/assemblies");
        string engine = layout == "release" ? Path.Combine(home.Home, "core", $"net{major}.0", "Governor.Patching.dll") : Path.Combine(home.Home, "core", "Governor.Patching.dll");
        Assert.Contains(engine, assemblies, StringComparison.Ordinal);
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
    }

    [Theory]
    [MemberData(nameof(Frameworks))]
    public async Task Agent_GovernorPatchingOff_ReportsUnavailableWithTheReason(string framework)
    {
        var app = TestApps.Publish("tests/apps/WebApp", framework);
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment(new Dictionary<string, string?> { ["GOVERNOR_PATCHING"] = "off" }));

        var status = home.Status(process.Id).WaitFor(s => Patching(s) is not null, what: "a patching value");
        Assert.Equal("unavailable: patching is turned off by GOVERNOR_PATCHING", Patching(status));
        Assert.DoesNotContain("patch engine ready", home.ReadLogs(), StringComparison.Ordinal);
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
    }

    /// <summary>
    /// The runtime throws a C++ exception inside a JIT compilation (the method being compiled calls
    /// an assembly missing at run time) while the engine's JIT hook is installed: the app's catch
    /// gets the FileNotFoundException as it does without the agent, and the process lives on
    /// (with a managed hook frame in between it aborted: "terminate called after throwing an
    /// instance of 'PAL_SEHException'").
    /// </summary>
    [Theory]
    [MemberData(nameof(Frameworks))]
    public async Task Agent_RuntimeThrowsInsideJitCompilation_AppCatchesTheExceptionAndSurvives(string framework)
    {
        var app = TestApps.Publish("tests/apps/WebApp", framework);
        int plainPort = AppProcess.FreePort();
        using (AppProcess.StartWeb(app, plainPort))
        {
            Assert.Equal("caught FileNotFoundException", await s_http.GetStringAsync($"http://127.0.0.1:{plainPort}/missing-assembly"));
        }

        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        int port = AppProcess.FreePort();
        using var process = AppProcess.StartWeb(app, port, home.Environment());
        home.Status(process.Id).WaitFor(s => Patching(s) is { } p && p.StartsWith("available:", StringComparison.Ordinal), what: "patching available");

        string answer = await s_http.GetStringAsync($"http://127.0.0.1:{port}/missing-assembly");
        Assert.True(answer == "caught FileNotFoundException", $"answer '{answer}'. Output:\n{process.Output}");
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
        Assert.False(process.HasExited, process.Output);
        Assert.Contains("JIT hook installed (native)", home.ReadLogs(), StringComparison.Ordinal);
    }

    /// <summary>Without the native hook library (an agent built where gcc was missing) the engine uses its managed hook and says so.</summary>
    [Fact]
    public async Task Agent_NativeJitHookLibraryMissing_FallsBackToManagedHookWithWarning()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        string library = Path.Combine(home.Home, "core", "libgovernor_jithook.so");
        Assert.True(File.Exists(library), $"{library} is not in the agent home: the build did not make it");
        File.Delete(library);
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());

        var status = home.Status(process.Id).WaitFor(s => Patching(s) is { } p && !p.StartsWith("starting:", StringComparison.Ordinal), what: "the patch engine's self-test outcome");
        string logs = home.ReadLogs();
        Assert.True(Patching(status)!.StartsWith("available:", StringComparison.Ordinal), $"patching is '{Patching(status)}'. Agent log:\n{logs}");
        Assert.Contains("the native JIT hook is unavailable (libgovernor_jithook.so is not next to Governor.Patching.dll", logs, StringComparison.Ordinal);
        Assert.Contains("JIT hook installed (managed)", logs, StringComparison.Ordinal);
        Assert.Equal("hello", await s_http.GetStringAsync($"http://127.0.0.1:{port}/"));
    }

    private static string? Patching(JsonElement status) => status.TryGetProperty("patching", out var value) ? value.GetString() : null;
}
