using System.Reflection;
using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Demo.Tests;

/// <summary>
/// Runs <c>Governor.Demo --quick</c> once, as a newcomer would (a real process; it starts the
/// sample services with the agent attached), and keeps its exit code, output, summary and report.
/// </summary>
public sealed class QuickTourFixture : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(8);
    private readonly TempDirectory _out = new("governor-demo-test");

    public QuickTourFixture()
    {
        string dll = typeof(QuickTourFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "DemoDll").Value!;
        Assert.True(File.Exists(dll), $"the tour is not built at {dll} (the test project builds it)");
        // GOVERNOR_DEMO_HOME runs the tour against another agent home (e.g. one with more plugins).
        string home = Environment.GetEnvironmentVariable("GOVERNOR_DEMO_HOME") is { Length: > 0 } h ? $" --home \"{h}\"" : string.Empty;
        using var tour = AppProcess.Start("dotnet", $"\"{dll}\" --quick --out \"{_out.Path}\"{home}", new Dictionary<string, string?> { ["NO_COLOR"] = "1" }, RepoPaths.Root);
        if (!tour.WaitForExit(s_timeout))
        {
            Assert.Fail($"the quick tour did not finish within {s_timeout.TotalMinutes:0} min. Its output:\n{tour.Output}");
        }

        ExitCode = tour.ExitCode;
        Output = tour.Output;
        string summary = Path.Combine(_out.Path, "summary.json");
        Assert.True(File.Exists(summary), $"no summary.json (exit code {ExitCode}). Output:\n{Output}");
        using var doc = JsonDocument.Parse(File.ReadAllText(summary));
        Summary = doc.RootElement.Clone();
        ReportPath = Path.Combine(_out.Path, "report.html");
        Plugins = Summary.GetProperty("plugins").EnumerateArray().Select(p => p.GetString()!).ToHashSet(StringComparer.Ordinal);
    }

    public int ExitCode { get; }

    public string Output { get; }

    public JsonElement Summary { get; }

    public string ReportPath { get; }

    /// <summary>The plugins the tour found in the agent home (what decides which steps run).</summary>
    public IReadOnlySet<string> Plugins { get; }

    public JsonElement Step(string name) => Summary.GetProperty("steps").GetProperty(name);

    public JsonElement Facts(string name) => Step(name).GetProperty("facts");

    public string Status(string name) => Step(name).GetProperty("status").GetString()!;

    public void Dispose() => _out.Dispose();
}
