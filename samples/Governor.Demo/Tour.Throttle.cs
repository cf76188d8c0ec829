namespace Governor.Demo;

internal sealed partial class Tour
{
    private int ThrottleThreshold => Quick ? 20 : 50;

    /// <summary>
    /// Three times the threshold of GET /api/orders/7 for some seconds, open loop: the gateway's
    /// agent admits the threshold each second and answers the rest 429 at once.
    /// </summary>
    private async Task ThrottleAsync(StepResult result, CancellationToken cancellationToken)
    {
        var gateway = _running["gateway"];
        int threshold = ThrottleThreshold;
        int seconds = Quick ? 6 : 12;
        double rate = threshold * 3;
        const string Resource = "GET:/api/orders/7";
        using var client = Load.Client(gateway.Url);
        double passedBefore = gateway.Counter("throttle", Resource, "passed") ?? 0;
        double blockedBefore = gateway.Counter("throttle", Resource, "blocked") ?? 0;
        Ui.Info($"rule: at most {threshold} requests/s for GET /api/orders/7 on the gateway; sending {rate:0}/s for {seconds} s");
        var samples = await Load.RunAsync(
            client,
            _ => new HttpRequestMessage(HttpMethod.Get, "/api/orders/7"),
            rate,
            TimeSpan.FromSeconds(seconds),
            (second, all) =>
            {
                var last = all.Where(s => s.At >= second - 1 && s.At < second).ToList();
                double passed = (gateway.Counter("throttle", Resource, "passed") ?? 0) - passedBefore;
                double blocked = (gateway.Counter("throttle", Resource, "blocked") ?? 0) - blockedBefore;
                Ui.Live($"t={second,2}s  last second: admitted {last.Count(s => s.Ok),3}  rejected {last.Count(s => s.Status == 429),3}  |  agent status: passed {passed,4:0}  blocked {blocked,4:0}");
            },
            cancellationToken);

        // Count by the second the request was sent in; the last, partial second is left out.
        var perSecond = Enumerable.Range(0, seconds).Select(s =>
        {
            var bucket = samples.Where(x => x.At >= s && x.At < s + 1).ToList();
            return (Second: s, Admitted: bucket.Count(x => x.Ok), Rejected: bucket.Count(x => x.Status == 429), Other: bucket.Count(x => !x.Ok && x.Status != 429));
        }).ToList();
        int admitted = samples.Count(s => s.Ok);
        int rejected = samples.Count(s => s.Status == 429);
        int otherErrors = samples.Count(s => !s.Ok && s.Status != 429);
        double rejectMs = Stats.Percentile(samples.Where(s => s.Status == 429).Select(s => s.Ms), 0.5);
        double admitMs = Stats.Percentile(samples.Where(s => s.Ok).Select(s => s.Ms), 0.5);
        // The status file is rewritten once a second: wait until it has counted every request sent (or 10 s).
        await gateway.WaitForStatusAsync(() => (gateway.Counter("throttle", Resource, "passed") ?? 0) - passedBefore + (gateway.Counter("throttle", Resource, "blocked") ?? 0) - blockedBefore >= samples.Count, cancellationToken);
        double agentPassed = (gateway.Counter("throttle", Resource, "passed") ?? 0) - passedBefore;
        double agentBlocked = (gateway.Counter("throttle", Resource, "blocked") ?? 0) - blockedBefore;
        int expected = threshold * seconds;

        result.Facts["threshold"] = threshold;
        result.Facts["seconds"] = seconds;
        result.Facts["offeredPerSecond"] = rate;
        result.Facts["sent"] = samples.Count;
        result.Facts["admitted"] = admitted;
        result.Facts["blocked"] = rejected;
        result.Facts["otherErrors"] = otherErrors;
        result.Facts["expectedAdmitted"] = expected;
        result.Facts["agentPassed"] = agentPassed;
        result.Facts["agentBlocked"] = agentBlocked;
        result.Facts["admittedMedianMs"] = Stats.Round(admitMs);
        result.Facts["rejectedMedianMs"] = Stats.Round(rejectMs);
        result.Facts["admittedPerSecond"] = Array(perSecond.Select(p => p.Admitted));
        result.Facts["blockedPerSecond"] = Array(perSecond.Select(p => p.Rejected));
        result.Charts.Add(new Chart("throttle-per-second", $"GET /api/orders/7 at {rate:0}/s against a limit of {threshold}/s: admitted vs rejected per second", "second", "requests", ChartKind.Bars, new[]
        {
            new Series("admitted (200)", "#2e7d32", perSecond.Select(p => ((double)p.Second, (double)p.Admitted)).ToList()),
            new Series("rejected (429)", "#c62828", perSecond.Select(p => ((double)p.Second, (double)p.Rejected)).ToList()),
        }));
        result.Notes.Add($"Rejected requests are answered by the gateway's agent before the app runs (median {rejectMs:0.0} ms, against {admitMs:0.0} ms for an admitted request that goes through orders and inventory); the status file's counters (passed {agentPassed:0}, blocked {agentBlocked:0}) agree with what the client saw.");

        // The window slides in tenths of a second: over N seconds of overload it admits the threshold N times, give or take one window.
        bool pass = rejected > 0 && otherErrors == 0 && Math.Abs(admitted - expected) <= threshold + (expected * 0.1);
        result.Judge(pass, $"{admitted} admitted in {seconds} s (limit {threshold}/s: {expected} expected), {rejected} rejected with 429 in {rejectMs:0.0} ms (median); agent counters: passed {agentPassed:0}, blocked {agentBlocked:0}");
    }
}
