using System.Text.Json.Nodes;

namespace Governor.Demo;

internal sealed partial class Tour
{
    /// <summary>
    /// The sales report's query turns slow (slowSeconds=0.5 makes the same SQL template sleep in
    /// the database). The orders service's agent measures the template, opens its breaker and
    /// fails it at once instead of sending more of it to the database (the app answers 503 from
    /// its own DbException handling); when the database is fast again, one probe closes it.
    /// </summary>
    private async Task SqlAsync(StepResult result, CancellationToken cancellationToken)
    {
        var gateway = _running["gateway"];
        var orders = _running["orders"];
        using var client = Load.Client(gateway.Url, TimeSpan.FromSeconds(30));
        double rate = 10;
        int slowSeconds = Quick ? 5 : 10;
        int recoverySeconds = Quick ? 6 : 8;
        const double SlowMs = 200;

        Ui.Info($"breaker: more than 50% of the report's queries slower than {SlowMs:0} ms in a second -> open for 3 s");
        Ui.Info($"phase 1: the database turns slow (every report query sleeps 0.5 s), {rate:0} reports/s for {slowSeconds} s");
        var slow = await Load.RunAsync(client, _ => new HttpRequestMessage(HttpMethod.Get, "/api/report?slowSeconds=0.5"), rate, TimeSpan.FromSeconds(slowSeconds), (second, all) => Live("slow db", second, all), cancellationToken);
        string? stateAfterSlow = orders.ResourceState("sqlguard", r => r.Contains("WITH pause", StringComparison.OrdinalIgnoreCase));
        Ui.Info($"phase 2: the database is fast again, {rate:0} reports/s for {recoverySeconds} s");
        var recovery = await Load.RunAsync(client, _ => new HttpRequestMessage(HttpMethod.Get, "/api/report"), rate, TimeSpan.FromSeconds(recoverySeconds), (second, all) => Live("fast db", second, all), cancellationToken);
        // The status file is rewritten once a second: wait until it shows the breaker closed again (or 10 s).
        await orders.WaitForStatusAsync(() => orders.ResourceState("sqlguard", r => r.Contains("WITH pause", StringComparison.OrdinalIgnoreCase)) == "Closed", cancellationToken);
        string? stateAtEnd = orders.ResourceState("sqlguard", r => r.Contains("WITH pause", StringComparison.OrdinalIgnoreCase));

        var all = slow.Concat(recovery.Select(s => s with { At = s.At + slowSeconds })).ToList();
        int Rejected(IEnumerable<Sample> s) => s.Count(IsBreakerRejection);
        int SlowOk(IEnumerable<Sample> s) => s.Count(x => x.Ok && x.Ms >= SlowMs);
        int FastOk(IEnumerable<Sample> s) => s.Count(x => x.Ok && x.Ms < SlowMs);
        int Errors(IEnumerable<Sample> s) => s.Count(x => !x.Ok && !IsBreakerRejection(x));
        int total = slowSeconds + recoverySeconds;
        var buckets = Enumerable.Range(0, total).Select(sec => all.Where(s => s.At >= sec && s.At < sec + 1).ToList()).ToList();

        bool opened = Rejected(slow) > 0;
        var lastSecond = recovery.Where(s => s.At >= recoverySeconds - 1).ToList();
        bool recovered = opened && lastSecond.Count > 0 && lastSecond.All(s => s.Ok && s.Ms < SlowMs) && Rejected(recovery) < recovery.Count;
        double firstRejectAt = slow.Where(IsBreakerRejection).Select(s => s.At).DefaultIfEmpty(double.NaN).Min();
        double recoveredAt = recovery.Where(s => s.Ok).Select(s => s.At + slowSeconds).DefaultIfEmpty(double.NaN).Min();

        result.Facts["opened"] = opened;
        result.Facts["recovered"] = recovered;
        result.Facts["slowPhaseSeconds"] = slowSeconds;
        result.Facts["slowAnswers"] = SlowOk(slow);
        result.Facts["slowAnswersMedianMs"] = Stats.Round(Stats.Percentile(slow.Where(x => x.Ok && x.Ms >= SlowMs).Select(x => x.Ms), 0.5));
        result.Facts["fastRejections"] = Rejected(all);
        result.Facts["fastRejectionsMedianMs"] = Stats.Round(Stats.Percentile(all.Where(IsBreakerRejection).Select(x => x.Ms), 0.5));
        result.Facts["appErrors"] = Errors(all);
        result.Facts["firstRejectionAtSecond"] = Stats.Round(firstRejectAt, 2);
        result.Facts["firstSuccessAfterRecoveryAtSecond"] = Stats.Round(recoveredAt, 2);
        result.Facts["breakerStateAfterSlowPhase"] = stateAfterSlow;
        result.Facts["breakerStateAtEnd"] = stateAtEnd;
        result.Facts["templateRejectedByAgent"] = orders.Counter("sqlguard", FindTemplate(orders) ?? string.Empty, "rejected");
        result.Facts["perSecond"] = new JsonArray(buckets.Select((b, i) => (JsonNode?)new JsonObject
        {
            ["second"] = i,
            ["fastOk"] = FastOk(b),
            ["slowOk"] = SlowOk(b),
            ["rejected"] = Rejected(b),
            ["appErrors"] = Errors(b),
        }).ToArray());
        result.Charts.Add(new Chart("sql-per-second", "Sales reports per second: slow answers, fast rejections by the breaker, fast answers", "second (database slow until the marker)", "reports", ChartKind.Bars, new[]
        {
            new Series("slow answer (>= 200 ms)", "#f9a825", buckets.Select((b, i) => ((double)i, (double)SlowOk(b))).ToList()),
            new Series("rejected by the breaker", "#c62828", buckets.Select((b, i) => ((double)i, (double)Rejected(b))).ToList()),
            new Series("fast answer", "#2e7d32", buckets.Select((b, i) => ((double)i, (double)FastOk(b))).ToList()),
            new Series("other error", "#000000", buckets.Select((b, i) => ((double)i, (double)Errors(b))).ToList()),
        }, new[] { new Marker(slowSeconds - 0.5, "database fast again") }));
        result.Charts.Add(new Chart("sql-latency", "Report latency, one dot per request", "second", "ms (log)", ChartKind.Dots, new[]
        {
            new Series("answered", "#1565c0", all.Where(s => s.Ok).Select(s => (s.At, s.Ms)).ToList()),
            new Series("rejected by the breaker", "#c62828", all.Where(IsBreakerRejection).Select(s => (s.At, s.Ms)).ToList()),
        }, new[] { new Marker(slowSeconds, "database fast again") }, LogY: true));
        result.Notes.Add("A rejection is the app's own answer to a DbException (503), raised by the agent before the query reaches the database; it takes milliseconds, where the slow query held a connection and a thread for half a second. \"Other error\" counts failures that were not the breaker's.");

        result.Judge(opened && recovered, opened
            ? $"the breaker opened {firstRejectAt:0.0} s after the database turned slow: {SlowOk(slow)} slow answers (median {result.Facts["slowAnswersMedianMs"]} ms), then {Rejected(all)} fast rejections (median {result.Facts["fastRejectionsMedianMs"]} ms), {Errors(all)} other errors; {(recovered ? "recovered" : "NOT recovered")} {(double.IsNaN(recoveredAt) ? "-" : (recoveredAt - slowSeconds).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture))} s after the database was fast again"
            : $"the breaker never opened: {SlowOk(slow)} slow answers, {Errors(all)} errors");
    }

    private static bool IsBreakerRejection(Sample sample) => !sample.Ok && sample.Body.Contains("circuit breaker", StringComparison.OrdinalIgnoreCase);

    private static void Live(string phase, int second, IReadOnlyList<Sample> all)
    {
        var last = all.Where(s => s.At >= second - 1 && s.At < second).ToList();
        Ui.Live($"{phase} t={second,2}s  last second: fast {last.Count(s => s.Ok && s.Ms < 200),2}  slow {last.Count(s => s.Ok && s.Ms >= 200),2}  rejected by breaker {last.Count(IsBreakerRejection),2}  other errors {last.Count(s => !s.Ok && !IsBreakerRejection(s)),2}");
    }

    private static string? FindTemplate(Instance orders)
    {
        if (orders.Status.TryRead() is not { } status || !status.TryGetProperty("resources", out var resources))
        {
            return null;
        }

        return resources.EnumerateArray()
            .Where(r => r.GetProperty("plugin").GetString() == "sqlguard")
            .Select(r => r.GetProperty("resource").GetString())
            .FirstOrDefault(n => n is not null && n.Contains("WITH pause", StringComparison.OrdinalIgnoreCase));
    }
}
