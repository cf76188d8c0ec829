using System.Diagnostics;
using System.Globalization;
using System.Text;
using Governor.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// Lossless online on an app with a realistic cold path (EF Core over SQLite, JSON, regex, MVC):
/// the latency of the first 200 requests after readiness, without and with the agent, side by
/// side in one run, against the app's warm latency.
/// <para>The machine is shared and its load swings within seconds, so the comparison that
/// decides is made under the same conditions: each of the agent instance's first 200 requests is
/// sent at the same moment as one to the already warm instance without the agent, one pair at a
/// time, and the p99 of each set is taken: a stall of the machine delays both requests of a pair,
/// so it moves both sets alike, while a cold path shows in one set only.</para>
/// </summary>
[Collection(LosslessProcessCollection.Name)]
public sealed class WarmupLatencyTests
{
    private const int FirstRequests = 200;

    private static readonly string[] s_warmupPaths = { "/products?category=tools", "/products/7", "/search?q=steel", "/api/catalog/garden/stats" };
    private static readonly string[] s_categories = { "tools", "garden", "kitchen", "office", "toys" };
    private static readonly string[] s_words = { "steel", "oak", "compact", "deluxe", "classic", "pro", "mini", "heavy", "smart", "eco" };

    private readonly LosslessFixture _fixture;
    private readonly ITestOutputHelper _output;

    public WarmupLatencyTests(LosslessFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [Fact]
    public async Task FirstRequests_ColdPathAppWithWarmupRequests_P99WithinTwiceTheWarmP99()
    {
        var app = _fixture.WarmupApp;
        using var data = new TempDirectory("lossless-warmup");

        // Without the agent: ready when the app answers its own health check.
        using var plain = LosslessInstance.Start(app, null, "plain", extraArguments: $"--db {data.Combine("plain.db")}");
        var clock = Stopwatch.StartNew();
        await plain.WaitReadyAsync(TimeSpan.FromSeconds(120));
        double plainReadyMs = clock.Elapsed.TotalMilliseconds;
        using var plainClient = Client(plain);
        var plainFirst = await RunAsync(plainClient, FirstRequests, 0);

        // With the agent: ready when its readiness passes (after the warm-up requests). It starts
        // while the instance without the agent is being warmed (its figures are taken already).
        using var agent = LosslessInstance.Start(app, _fixture.Home, "agent", new()
        {
            ["GOVERNOR_PLUGINS__LOSSLESS__WARMUPREQUESTS"] = string.Join(',', s_warmupPaths),
            // The product's default status interval (the test home's 200 ms rewrites the status
            // file five times a second, work the measured process would not do in production).
            ["GOVERNOR_STATUS_INTERVAL"] = "2s",
        }, $"--db {data.Combine("agent.db")}");
        clock.Restart();
        var agentReady = agent.WaitReadyAsync(TimeSpan.FromSeconds(120));
        var warming = RunAsync(plainClient, 400, FirstRequests);
        await agentReady;
        double agentReadyMs = clock.Elapsed.TotalMilliseconds;
        await warming;
        using var agentClient = Client(agent);

        // The decisive window: the agent's first 200, each sent at the same moment as one to the
        // warm app, so that a stall of the shared machine hits both sets alike.
        var (agentFirst, plainWarm) = await RunPairedAsync(agentClient, plainClient, FirstRequests, 0);

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"machine: {Environment.ProcessorCount} cores, load average {LosslessFixture.LoadAverage()}; WarmupApp net10.0 (EF Core + SQLite, System.Text.Json, regex, MVC); requests one at a time, 4 kinds in turn");
        report.AppendLine("| | ready after (ms) | first 200: p50 (ms) | p99 (ms) | max (ms) |");
        report.AppendLine("|---|---|---|---|---|");
        report.AppendLine(CultureInfo.InvariantCulture, $"| without the agent | {plainReadyMs:0} | {plainFirst.P50:0.0} | {plainFirst.P99:0.0} | {plainFirst.Max:0.0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| with the agent | {agentReadyMs:0} | {agentFirst.P50:0.0} | {agentFirst.P99:0.0} | {agentFirst.Max:0.0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| warm app (paired with the agent's first 200) | | {plainWarm.P50:0.0} | {plainWarm.P99:0.0} | {plainWarm.Max:0.0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"agent's first-200 p99 / warm app's p99 in the same paired window: {agentFirst.P99 / plainWarm.P99:0.00}x; without the agent, first-200 p99 / warm p99: {plainFirst.P99 / plainWarm.P99:0.0}x, slowest / warm p99: {plainFirst.Max / plainWarm.P99:0}x");
        report.AppendLine("slowest of the first 200 without the agent: " + plainFirst.Slowest);
        report.AppendLine("slowest of the first 200 with the agent: " + agentFirst.Slowest);
        report.AppendLine(_fixture.LogOf(agent.Process.Id).Split('\n').FirstOrDefault(l => l.Contains("lossless: Ready after", StringComparison.Ordinal))?.Trim() ?? "(no ready line)");
        _output.WriteLine(report.ToString());
        LosslessFixture.Record("lossless-warmup.txt", report.ToString());

        Assert.True(agentFirst.P99 <= 2 * plainWarm.P99, $"with the agent the first {FirstRequests} requests' p99 is {agentFirst.P99:0.0} ms, more than twice the warm app's p99 {plainWarm.P99:0.0} ms:\n{report}");
        // The control: without the agent the cold path is paid by real requests. One at a time it
        // shows most in the slowest request (seconds), less in the p99, which noise can match.
        Assert.True(plainFirst.Max > 10 * plainWarm.P99, $"without the agent the cold path did not show, so this test shows nothing:\n{report}");
    }

    private static HttpClient Client(LosslessInstance instance) => new() { BaseAddress = new Uri(instance.AppUrl), Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Sends <paramref name="count"/> requests one at a time.</summary>
    private static async Task<Percentiles> RunAsync(HttpClient client, int count, int offset)
    {
        var latencies = new double[count];
        for (int i = 0; i < count; i++)
        {
            latencies[i] = await TimeAsync(client, PathFor(offset + i));
        }

        return Percentiles.Of(latencies, offset);
    }

    /// <summary>Pairs of requests, the two of a pair sent at the same moment, one pair at a time.</summary>
    private static async Task<(Percentiles First, Percentiles Second)> RunPairedAsync(HttpClient first, HttpClient second, int count, int offset)
    {
        var a = new double[count];
        var b = new double[count];
        for (int i = 0; i < count; i++)
        {
            var x = TimeAsync(first, PathFor(offset + i));
            var y = TimeAsync(second, PathFor(offset + i));
            a[i] = await x;
            b[i] = await y;
        }

        return (Percentiles.Of(a, offset), Percentiles.Of(b, offset));
    }

    private static async Task<double> TimeAsync(HttpClient client, string path)
    {
        long start = Stopwatch.GetTimestamp();
        using var response = await client.GetAsync(path);
        await response.Content.ReadAsByteArrayAsync();
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode}");
        return ms;
    }

    /// <summary>Four kinds of request in turn, with varying arguments (other rows, other query text).</summary>
    private static string PathFor(int i) => (i % 4) switch
    {
        0 => $"/products?category={s_categories[i / 4 % s_categories.Length]}&page={i / 20 % 5}",
        1 => $"/products/{1 + (i * 37 % 1000)}",
        2 => $"/search?q={s_words[i / 4 % s_words.Length]}",
        _ => $"/api/catalog/{s_categories[i / 4 % s_categories.Length]}/stats",
    };

    private sealed record Percentiles(double P50, double P99, double Max, string Slowest)
    {
        public static Percentiles Of(double[] latencies, int offset)
        {
            string slowest = string.Join(", ", latencies.Select((l, i) => (l, i)).OrderByDescending(x => x.l).Take(4).Select(x => $"#{x.i} {PathFor(offset + x.i)} {x.l:0.0} ms"));
            var sorted = latencies.OrderBy(l => l).ToArray();
            return new Percentiles(At(sorted, 0.50), At(sorted, 0.99), sorted[^1], slowest);
        }

        // Nearest rank: the p99 of 200 samples is the third largest.
        private static double At(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }
}
