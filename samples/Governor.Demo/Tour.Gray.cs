using System.Text.Json;
using System.Text.Json.Nodes;

namespace Governor.Demo;

internal sealed partial class Tour
{
    private static readonly string[] s_grayLane = { "gateway@v1", "orders@v2", "inventory@v2" };

    /// <summary>
    /// Requests with X-User-Id: 12345 must go gateway -> orders-gray -> inventory-gray; every other
    /// request must stay on v1 everywhere. Then orders-gray is stopped under labeled load: its
    /// calls fall back to base orders (which still sends them on to inventory-gray) and no
    /// request fails.
    /// </summary>
    private async Task GrayAsync(StepResult result, CancellationToken cancellationToken)
    {
        var gateway = _running["gateway"];
        int count = Quick ? 40 : 200;
        using var client = Load.Client(gateway.Url);

        Ui.Info($"{count} requests with X-User-Id: 12345 (the rule's gray testers) and {count} without or with another user id, 8 at a time");
        var matching = await SendLabeledAsync(client, count, i => "12345", "matching", cancellationToken);
        var others = await SendLabeledAsync(client, count, i => i % 2 == 0 ? null : "777", "others", cancellationToken);

        int inGray = matching.Count(s => s.Ok && Via(s).SequenceEqual(s_grayLane));
        int matchingErrors = matching.Count(s => !s.Ok);
        int leaks = others.Count(s => Via(s).Any(v => v.EndsWith("@v2", StringComparison.Ordinal)));
        int othersErrors = others.Count(s => !s.Ok);
        Ui.Info($"matching: {inGray}/{matching.Count} went {string.Join(" -> ", s_grayLane)}; {matchingErrors} error(s)");
        Ui.Info($"others:   {others.Count - leaks}/{others.Count} stayed on v1 everywhere; {leaks} touched a gray instance; {othersErrors} error(s)");

        // Fallback: stop the gray orders instance (SIGTERM, as a rollout or scale-down would) under labeled load.
        var ordersGray = _running["orders-gray"];
        double rate = Quick ? 20 : 40;
        Ui.Info($"stopping orders-gray (SIGTERM) while gray testers keep coming at {rate:0}/s ...");
        var stopped = Task.Run(
            async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
                ordersGray.Terminate();
                bool exited = await ordersGray.WaitExitAsync(TimeSpan.FromSeconds(30));
                // Keep the load on after the exit, so the fallback itself is measured.
                await Task.Delay(TimeSpan.FromSeconds(Quick ? 2 : 4), cancellationToken);
                return exited;
            },
            cancellationToken);
        double stopAt = double.NaN;
        var fallback = await Load.RunAsync(
            client,
            i => Labeled(i, "12345"),
            rate,
            TimeSpan.Zero,
            (second, samples) =>
            {
                if (double.IsNaN(stopAt) && ordersGray.Process.HasExited)
                {
                    stopAt = second;
                }

                var last = samples.Where(s => s.At >= second - 1).ToList();
                Ui.Live($"t={second,2}s  {string.Join("  ", last.GroupBy(LaneOf).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}"))}  errors so far: {samples.Count(s => !s.Ok)}");
            },
            cancellationToken,
            stopped);
        bool grayExited = await stopped;
        int fallbackErrors = fallback.Count(s => !s.Ok);
        var lanes = fallback.GroupBy(LaneOf).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var lastSecond = fallback.Where(s => s.At >= fallback.Max(x => x.At) - 1).ToList();
        bool fellBack = lastSecond.Count > 0 && lastSecond.All(s => s.Ok && Via(s).SequenceEqual(new[] { "gateway@v1", "orders@v1", "inventory@v2" }));
        Ui.Info($"through the stop: {fallback.Count} gray requests, {fallbackErrors} error(s); lanes seen: {string.Join(", ", lanes.Select(l => $"{l.Key} x{l.Value}"))}");

        result.Facts["matchingSent"] = matching.Count;
        result.Facts["matchingInGrayLane"] = inGray;
        result.Facts["matchingErrors"] = matchingErrors;
        result.Facts["othersSent"] = others.Count;
        result.Facts["leaks"] = leaks;
        result.Facts["othersErrors"] = othersErrors;
        result.Facts["fallbackSent"] = fallback.Count;
        result.Facts["fallbackErrors"] = fallbackErrors;
        result.Facts["fallbackReachedBase"] = fellBack;
        result.Facts["grayInstanceExited"] = grayExited;
        result.Facts["fallbackLanes"] = new JsonObject(lanes.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)JsonValue.Create(l.Value))));
        result.Facts["fallbackErrorSamples"] = Array(fallback.Where(s => !s.Ok).Take(5).Select(s => s.Error ?? $"{s.Status} {s.Body}"));
        if (gateway.Counter("gray", "route/orders/gray", "fallbacks") is { } fallbacks)
        {
            result.Facts["agentFallbacksToBase"] = fallbacks;
        }

        var lanesOverTime = fallback.GroupBy(LaneOf).Select((g, index) => new Series(g.Key, Palette(index), g.GroupBy(s => Math.Floor(s.At)).Select(b => (b.Key, (double)b.Count())).ToList())).ToList();
        result.Charts.Add(new Chart("gray-fallback", "Gray testers through the stop of orders-gray: requests per second by the lane they took", "seconds", "requests / s", ChartKind.Bars, lanesOverTime, double.IsNaN(stopAt) ? null : new[] { new Marker(stopAt, "orders-gray gone") }));
        result.Charts.Add(new Chart("gray-lanes", "Where requests went", "group", "requests", ChartKind.Bars, new[]
        {
            new Series("all gray (gateway, orders@v2, inventory@v2)", "#2e7d32", new[] { (0.0, (double)inGray), (1, 0) }),
            new Series("touched gray, not all", "#f9a825", new[] { (0.0, (double)(matching.Count - inGray - matchingErrors)), (1, leaks) }),
            new Series("all v1", "#1565c0", new[] { (0.0, (double)matching.Count(s => s.Ok && Via(s).All(v => v.EndsWith("@v1", StringComparison.Ordinal)))), (1, others.Count - leaks - othersErrors) }),
        }, Categories: new[] { "X-User-Id: 12345", "everyone else" }));
        result.Notes.Add("The gateway labels a request gray when X-User-Id is 12345 (TrafficLabelRule) and ignores labels sent from outside; each service's agent carries the label on its outbound HTTP and gRPC calls and sends them to the gray instance of the next service (VirtualWorkloads), or to base when there is none.");

        bool pass = inGray == matching.Count && leaks == 0 && othersErrors == 0 && fallbackErrors == 0 && fellBack && grayExited;
        result.Judge(pass, $"{inGray}/{matching.Count} gray testers went gateway -> orders@v2 -> inventory@v2; {leaks} of {others.Count} other requests touched gray; with orders-gray stopped, {fallback.Count} gray requests fell back to orders@v1 with {fallbackErrors} error(s)");
    }

    private static async Task<List<Sample>> SendLabeledAsync(HttpClient client, int count, Func<int, string?> user, string what, CancellationToken cancellationToken)
    {
        var samples = new List<Sample>();
        for (int i = 0; i < count; i += 8)
        {
            var batch = Enumerable.Range(i, Math.Min(8, count - i)).Select(n => Load.SendOneAsync(client, Labeled(n, user(n)), cancellationToken));
            samples.AddRange(await Task.WhenAll(batch));
            Ui.Live($"{what}: {samples.Count}/{count} sent, {samples.Count(s => !s.Ok)} error(s)");
        }

        return samples;
    }

    /// <summary>GET /api/orders/{id} (never order 7, which the throttle step limits), with X-User-Id when given.</summary>
    private static HttpRequestMessage Labeled(long i, string? user)
    {
        long id = 1 + (i % 48);
        var request = new HttpRequestMessage(HttpMethod.Get, $"/api/orders/{(id >= 7 ? id + 1 : id)}");
        if (user is not null)
        {
            request.Headers.Add("X-User-Id", user);
        }

        return request;
    }

    private static IReadOnlyList<string> Via(Sample sample)
    {
        try
        {
            using var doc = JsonDocument.Parse(sample.Body);
            return doc.RootElement.TryGetProperty("via", out var via) ? via.EnumerateArray().Select(v => v.GetString() ?? "?").ToList() : System.Array.Empty<string>();
        }
        catch (JsonException)
        {
            return System.Array.Empty<string>();
        }
    }

    private static string LaneOf(Sample sample) => sample.Ok ? string.Join(" > ", Via(sample)) : "error";

    private static string Palette(int index) => new[] { "#2e7d32", "#1565c0", "#f9a825", "#c62828", "#6a1b9a", "#00838f" }[index % 6];
}
