// A plain minimal-API service. It knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
string name = app.Configuration["name"] ?? "app";
var meter = new ConcurrencyMeter();
int posts = 0;

app.MapGet("/", () => $"ok {name}");
app.MapGet("/health", () => "ok");
app.MapGet("/work", async (int? ms) =>
{
    meter.Enter();
    try
    {
        await Task.Delay(ms ?? 10);
        return $"done {name}";
    }
    finally
    {
        meter.Exit();
    }
});
app.MapGet("/concurrency", () => $"{meter.Max}");
app.MapPost("/items", () =>
{
    Interlocked.Increment(ref posts);
    return Results.Created("/items/1", "created");
});
app.MapGet("/items/count", () => $"{Volatile.Read(ref posts)}");

app.Run();

/// <summary>The highest number of /work requests the app ran at once.</summary>
internal sealed class ConcurrencyMeter
{
    private int _active;
    private int _max;

    public int Max => Volatile.Read(ref _max);

    public void Enter()
    {
        int now = Interlocked.Increment(ref _active);
        int max;
        while (now > (max = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, now, max) != max)
        {
        }
    }

    public void Exit() => Interlocked.Decrement(ref _active);
}
