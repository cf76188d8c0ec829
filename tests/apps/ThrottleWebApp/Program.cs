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

app.MapControllers();
app.Run();

/// <summary>What the app served, per name: how many, when (ms on the monotonic clock), and the most at once.</summary>
public sealed class Served
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

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

        public void Arrived()
        {
            double ms = Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
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
