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
// What many services do while they stop: refuse new work with 503 (their dependencies are going).
app.MapGet("/leaving", (IHostApplicationLifetime lifetime) =>
    lifetime.ApplicationStopping.IsCancellationRequested ? Results.Text($"stopping {name}", statusCode: 503) : Results.Text($"ok {name}"));
app.MapPost("/items", () =>
{
    Interlocked.Increment(ref posts);
    return Results.Created("/items/1", "created");
});
app.MapGet("/items/count", () => $"{Volatile.Read(ref posts)}");
app.MapDelete("/items/{id:int}", (int id) => Results.NoContent());

// A caller of another service, with a new connection per call (Connection: close), the way a
// client behind a Service meets whatever backend the load balancer picks for each connection.
var caller = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
app.MapGet("/call", async (string target, string? method) =>
{
    using var request = new HttpRequestMessage(new HttpMethod(method ?? "GET"), target);
    request.Headers.ConnectionClose = true;
    if (request.Method == HttpMethod.Post || request.Method == HttpMethod.Put)
    {
        request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
    }

    try
    {
        using var response = await caller.SendAsync(request);
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }
    catch (Exception ex)
    {
        return $"error {ex.GetType().Name}";
    }
});

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
