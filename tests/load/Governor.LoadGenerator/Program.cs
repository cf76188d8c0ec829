using System.Diagnostics;
using System.Net;
using System.Text.Json;

// Usage:
//   rate  --url URL --rate N --seconds S [options]   open loop: request i is sent at start + i/N, whatever the answers do
//   burst --url URL --count N [options]              N requests at once
// Options: --method M (default GET), --http2 (h2c, prior knowledge), --header name=value (repeatable), --capture-header name
// (repeatable: part of each answer's signature), --align-second (start on a whole second of the
// monotonic clock), --timeout-ms T (per request, default 30000). "{i}" in the URL is the request's index.
// Prints one JSON object: counts by status, by signature (status, body and captured headers),
// requests sent per second of the monotonic clock, the scheduler's worst lag, latencies by status.
var options = Options.Parse(args);
var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 512, EnableMultipleHttp2Connections = true, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
using var client = new HttpClient(handler) { Timeout = TimeSpan.FromMilliseconds(options.TimeoutMs) };
var results = new Result[options.Count];
var sentAt = new long[options.Count];
var tasks = new Task[options.Count];
long maxLag = 0;

if (options.AlignSecond)
{
    long ms = Environment.TickCount64;
    Thread.Sleep((int)(1000 - (ms % 1000)));
}

long start = Stopwatch.GetTimestamp();
double period = options.Mode == "burst" ? 0 : Stopwatch.Frequency / options.Rate;
for (int i = 0; i < options.Count; i++)
{
    long due = start + (long)(i * period);
    while (true)
    {
        long now = Stopwatch.GetTimestamp();
        long remaining = due - now;
        if (remaining <= 0)
        {
            maxLag = Math.Max(maxLag, -remaining);
            break;
        }

        if (remaining > Stopwatch.Frequency / 500)
        {
            Thread.Sleep(1);
        }
        else
        {
            Thread.Yield();
        }
    }

    int index = i;
    sentAt[index] = Stopwatch.GetTimestamp();
    tasks[index] = Task.Run(async () => results[index] = await SendAsync(index));
}

await Task.WhenAll(tasks);
Console.WriteLine(JsonSerializer.Serialize(Summarize()));
return 0;

async Task<Result> SendAsync(int index)
{
    var request = new HttpRequestMessage(new HttpMethod(options.Method), options.Url.Replace("{i}", index.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
    if (options.Http2)
    {
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
    }

    foreach (var (name, value) in options.Headers)
    {
        request.Headers.TryAddWithoutValidation(name, value);
    }

    long begin = Stopwatch.GetTimestamp();
    try
    {
        using var response = await client.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        string signature = $"{(int)response.StatusCode}|{body}";
        foreach (string name in options.Capture)
        {
            string? value = response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(",", values) : null;
            signature += $"|{name}={value}";
        }

        return new Result((int)response.StatusCode, signature, Stopwatch.GetElapsedTime(begin).TotalMilliseconds, null);
    }
    catch (Exception ex)
    {
        return new Result(0, "error", Stopwatch.GetElapsedTime(begin).TotalMilliseconds, ex.GetType().Name + ": " + ex.Message);
    }
}

object Summarize()
{
    var statuses = results.GroupBy(r => r.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToDictionary(g => g.Key, g => g.Count());
    var signatures = results.GroupBy(r => r.Signature).ToDictionary(g => g.Key, g => g.Count());
    var perSecond = sentAt.GroupBy(t => (long)(t * 1000.0 / Stopwatch.Frequency) / 1000).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), g => g.Count());
    var latency = results.GroupBy(r => r.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToDictionary(g => g.Key, g =>
    {
        var sorted = g.Select(r => r.LatencyMs).Order().ToArray();
        return new { p50 = sorted[sorted.Length / 2], p99 = sorted[(int)(sorted.Length * 0.99)], max = sorted[^1] };
    });
    return new
    {
        sent = results.Length,
        statuses,
        signatures,
        sentPerSecond = perSecond,
        firstSentMs = sentAt[0] * 1000.0 / Stopwatch.Frequency,
        lastSentMs = sentAt[^1] * 1000.0 / Stopwatch.Frequency,
        maxLagMs = maxLag * 1000.0 / Stopwatch.Frequency,
        latencyMs = latency,
        error = results.FirstOrDefault(r => r.Error is not null)?.Error,
    };
}

internal sealed record Result(int Status, string Signature, double LatencyMs, string? Error);

internal sealed record Options(string Mode, string Url, string Method, double Rate, int Count, bool Http2, List<(string, string)> Headers, List<string> Capture, bool AlignSecond, int TimeoutMs)
{
    public static Options Parse(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : throw new ArgumentException("rate or burst");
        string? url = null;
        string method = "GET";
        double rate = 0;
        double seconds = 0;
        int count = 0;
        bool http2 = false;
        bool align = false;
        int timeout = 30_000;
        var headers = new List<(string, string)>();
        var capture = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            string Next() => args[++i];
            switch (args[i])
            {
                case "--url": url = Next(); break;
                case "--method": method = Next(); break;
                case "--rate": rate = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--count": count = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--http2": http2 = true; break;
                case "--align-second": align = true; break;
                case "--timeout-ms": timeout = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                case "--header":
                    string pair = Next();
                    int eq = pair.IndexOf('=', StringComparison.Ordinal);
                    headers.Add((pair[..eq], pair[(eq + 1)..]));
                    break;
                case "--capture-header": capture.Add(Next()); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        if (mode == "rate")
        {
            count = (int)Math.Round(rate * seconds);
        }

        return new Options(mode, url ?? throw new ArgumentException("--url"), method, rate, count, http2, headers, capture, align, timeout);
    }
}
