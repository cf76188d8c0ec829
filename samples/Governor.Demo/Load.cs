using System.Diagnostics;

namespace Governor.Demo;

/// <summary>One request the tour sent: when (seconds since its phase started), how long, the answer.</summary>
internal sealed record Sample(double At, double Ms, int Status, string Body, string? Error)
{
    public bool Ok => Status is >= 200 and < 300;
}

/// <summary>
/// Open-loop load: requests start at a fixed rate whatever the answers do (as real users do),
/// so a slow or failing service shows as slow or failed requests rather than as fewer requests.
/// </summary>
internal static class Load
{
    public static HttpClient Client(string baseUrl, TimeSpan? timeout = null) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 64,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
    })
    {
        BaseAddress = new Uri(baseUrl),
        Timeout = timeout ?? TimeSpan.FromSeconds(15),
    };

    /// <summary>
    /// Sends <paramref name="rate"/> requests per second for <paramref name="duration"/> (or until
    /// <paramref name="until"/> completes), calling <paramref name="everySecond"/> with the samples so
    /// far once a second, and returns every sample once all answered.
    /// </summary>
    public static async Task<List<Sample>> RunAsync(HttpClient client, Func<long, HttpRequestMessage> request, double rate, TimeSpan duration, Action<int, IReadOnlyList<Sample>>? everySecond, CancellationToken cancellationToken, Task? until = null)
    {
        var samples = new List<Sample>();
        var pending = new List<Task>();
        var clock = Stopwatch.StartNew();
        long issued = 0;
        int reported = 0;
        while (until is null ? clock.Elapsed < duration : !until.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long due = (long)(clock.Elapsed.TotalSeconds * rate);
            while (issued < due)
            {
                pending.Add(SendAsync(client, request(issued++), clock, samples, cancellationToken));
            }

            int second = (int)clock.Elapsed.TotalSeconds;
            if (second > reported)
            {
                reported = second;
                everySecond?.Invoke(second, Snapshot(samples));
                pending.RemoveAll(t => t.IsCompleted);
            }

            await Task.Delay(2, cancellationToken);
        }

        await Task.WhenAll(pending);
        // The last whole second once its answers are in (a partial second would show as a drop).
        int last = (int)Math.Round(clock.Elapsed.TotalSeconds);
        if (last > reported)
        {
            everySecond?.Invoke(last, Snapshot(samples));
        }

        return Snapshot(samples).OrderBy(s => s.At).ToList();
    }

    /// <summary>One request at a time, timed.</summary>
    public static async Task<Sample> SendOneAsync(HttpClient client, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var samples = new List<Sample>();
        await SendAsync(client, request, Stopwatch.StartNew(), samples, cancellationToken);
        return samples[0];
    }

    public static List<Sample> Snapshot(List<Sample> samples)
    {
        lock (samples)
        {
            return samples.ToList();
        }
    }

    private static async Task SendAsync(HttpClient client, HttpRequestMessage request, Stopwatch clock, List<Sample> samples, CancellationToken cancellationToken)
    {
        double at = clock.Elapsed.TotalSeconds;
        long start = Stopwatch.GetTimestamp();
        Sample sample;
        try
        {
            using (request)
            {
                using var response = await client.SendAsync(request, cancellationToken);
                string body = await response.Content.ReadAsStringAsync(cancellationToken);
                sample = new Sample(at, Stopwatch.GetElapsedTime(start).TotalMilliseconds, (int)response.StatusCode, body, null);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            string error = ex.GetType().Name + ": " + ex.Message + (ex.InnerException is { } inner ? $" ({inner.Message})" : string.Empty);
            sample = new Sample(at, Stopwatch.GetElapsedTime(start).TotalMilliseconds, 0, string.Empty, error);
        }

        lock (samples)
        {
            samples.Add(sample);
        }
    }
}

/// <summary>Percentiles by nearest rank (the p99 of 100 samples is the largest but one).</summary>
internal static class Stats
{
    public static double Percentile(IEnumerable<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    public static double Round(double value, int digits = 1) => double.IsNaN(value) ? 0 : Math.Round(value, digits);
}
