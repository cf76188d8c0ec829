using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Mvc;

// Every endpoint records that it ran: the tests count what the app served, on the server side,
// and compare arrival times on CLOCK_MONOTONIC (Stopwatch), the clock the throttle's windows use.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddControllers();
builder.Services.AddSingleton<Served>();
var app = builder.Build();

app.MapGet("/", () => "ready");
app.MapGet("/foo", (Served served) => served.Run("foo"));
app.MapMethods("/load/{name}", new[] { "GET", "POST" }, (string name, int? ms, Served served) => served.RunAsync(name, ms ?? 0));
app.MapGet("/orders/{id}", (string id, Served served) => served.Run("orders"));
app.MapPost("/greet.Greeter/SayHello", (HttpContext context, Served served) =>
{
    served.Run("grpc");
    return Greeter.SayHello(context);
});
app.MapGet("/_stats/{name}", (string name, Served served) => served.Report(name));

// An outbound call, as app code makes them: what the app saw (status, body, a header, or the
// exception's type, its base types and HttpRequestException.StatusCode). With ?record=name, a
// call the downstream served is recorded under that name at the moment the app made it: the
// time the throttle decided, which the downstream's own record can trail under load.
var outbound = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
app.MapGet("/call", async (string url, string? record, Served served) =>
{
    try
    {
        double calledAt = Served.NowMs();
        using var response = await outbound.GetAsync(url);
        string body = await response.Content.ReadAsStringAsync();
        if (record is not null && response.IsSuccessStatusCode && body == "served")
        {
            served.Record(record, calledAt);
        }

        string? header = response.Headers.TryGetValues("X-Throttled", out var values) ? string.Join(",", values) : null;
        return Results.Json(new { status = (int)response.StatusCode, body, header });
    }
    catch (Exception ex)
    {
        return Results.Json(new
        {
            exception = ex.GetType().FullName,
            isHttpRequestException = ex is HttpRequestException,
            statusCode = (ex as HttpRequestException)?.StatusCode is { } code ? (int)code : 0,
            message = ex.Message,
        });
    }
});
// A unary gRPC call as a gRPC client sends it (HTTP/2 with prior knowledge, a length-prefixed
// greet.HelloRequest): the gRPC status and message from the headers of a trailers-only answer,
// else from the trailers.
var grpc = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
app.MapGet("/callgrpc", async (string address) =>
{
    byte[] name = "governor"u8.ToArray();
    byte[] frame = [0, 0, 0, 0, (byte)(name.Length + 2), 0x0A, (byte)name.Length, .. name];
    using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{address}/greet.Greeter/SayHello")
    {
        Version = System.Net.HttpVersion.Version20,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Content = new ByteArrayContent(frame),
    };
    request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
    request.Headers.TryAddWithoutValidation("te", "trailers");
    using var response = await grpc.SendAsync(request);
    bool trailersOnly = response.Headers.Contains("grpc-status");
    var source = trailersOnly ? response.Headers : response.TrailingHeaders;
    string? status = source.TryGetValues("grpc-status", out var s) ? s.First() : null;
    string? message = source.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.First()) : null;
    return Results.Json(new { http = (int)response.StatusCode, trailersOnly, status, message });
});
app.MapControllers();
app.Run();

/// <summary>What the app served, per name: how many, when (ms on the monotonic clock), and the most at once.</summary>
public sealed class Served
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public static double NowMs() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;

    public void Record(string name, double ms) => Get(name).Arrived(ms);

    public string Run(string name)
    {
        Get(name).Arrived();
        return "served";
    }

    public async Task<string> RunAsync(string name, int ms)
    {
        var entry = Get(name);
        entry.Arrived();
        if (ms > 0)
        {
            entry.Enter();
            try
            {
                await Task.Delay(ms);
            }
            finally
            {
                entry.Leave();
            }
        }

        return "served";
    }

    public IResult Report(string name)
    {
        var entry = Get(name);
        lock (entry)
        {
            return Results.Json(new { count = entry.Times.Count, maxInFlight = entry.MaxInFlight, inFlight = entry.InFlight, timesMs = entry.Times.ToArray() });
        }
    }

    private Entry Get(string name) => _entries.GetOrAdd(name, _ => new Entry());

    private sealed class Entry
    {
        public List<double> Times { get; } = new();

        public int InFlight { get; private set; }

        public int MaxInFlight { get; private set; }

        public void Arrived() => Arrived(NowMs());

        public void Arrived(double ms)
        {
            lock (this)
            {
                Times.Add(ms);
            }
        }

        public void Enter()
        {
            lock (this)
            {
                InFlight++;
                MaxInFlight = Math.Max(MaxInFlight, InFlight);
            }
        }

        public void Leave()
        {
            lock (this)
            {
                InFlight--;
            }
        }
    }
}

[ApiController]
[Route("api/orders")]
public sealed class OrdersController : ControllerBase
{
    [HttpGet("{id}")]
    public string Get(string id, [FromServices] Served served) => served.Run("api-orders");
}
