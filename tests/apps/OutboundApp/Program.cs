using System.Collections.Concurrent;
using System.Text.Json;

// Sends HTTP and runs SQL on request, and reports what it observed. Knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddHttpClient("named");
builder.Services.AddHttpClient<TypedClient>();
builder.Services.AddHttpClient("grpc").ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler());
var app = builder.Build();

app.Use(async (context, next) =>
{
    try
    {
        await next();
    }
    catch (Exception ex)
    {
        context.Response.StatusCode = 500;
        await context.Response.WriteAsync(ex.ToString());
    }
});

var hits = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
var background = new BackgroundCaller();

// ---- The server side: what the outbound calls reach -------------------------------------
app.MapGet("/", () => "outbound app");
app.MapGet("/headers", (HttpContext context) =>
{
    var seen = new Dictionary<string, string>(StringComparer.Ordinal);
    foreach (var header in context.Request.Headers)
    {
        if (header.Key.StartsWith("x-", StringComparison.OrdinalIgnoreCase))
        {
            seen[header.Key.ToLowerInvariant()] = header.Value.ToString();
        }
    }

    return Results.Json(seen);
});
app.MapPost("/echo", async (HttpContext context) =>
{
    using var reader = new StreamReader(context.Request.Body);
    return Results.Text("echo:" + await reader.ReadToEndAsync());
});
app.MapMethods("/count/{key}", new[] { "GET", "POST" }, (string key) => Results.Text($"hit {hits.AddOrUpdate(key, 1, (_, n) => n + 1)}"));
app.MapGet("/hits/{key}", (string key) => Results.Text(hits.TryGetValue(key, out int n) ? n.ToString() : "0"));
app.MapGet("/reroute/{**rest}", () => Results.Text("rerouted"));

// ---- The drivers: tests call these and read what the app observed ---------------------------
app.MapGet("/run/http", async (HttpContext context, IHttpClientFactory factory, TypedClient typed, string grpc, string run, bool? block) =>
    Results.Json(await HttpScenarios.RunAll(Self(context), grpc, factory, typed, run, block == true)));
app.MapGet("/run/retry", async (HttpContext context, IHttpClientFactory factory, string grpc, string id) =>
    Results.Json(await HttpScenarios.Retry(Self(context), grpc, factory, id)));
app.MapGet("/run/reroute", async (int port, string run) =>
    Results.Json(new[] { await HttpScenarios.Get(new HttpClient(), $"{run}:reroute", $"http://127.0.0.1:{port}/reroute/here") }));
app.MapGet("/run/context", async (HttpContext context, string label, bool? probe) =>
    Results.Json(await ContextScenarios.Run(Self(context), label, background, probe != false)));
app.MapGet("/run/sql", async (string? pg, string? only, string run) =>
    Results.Json(await SqlScenarios.RunAll(pg, only, run)));
app.MapGet("/run/sql-block", async (string? pg, string run) =>
    Results.Json(await SqlScenarios.Blocked(pg, run)));
app.MapGet("/run/sql-reader-errors", async (string? pg, string run) =>
    Results.Json(await SqlScenarios.ReaderErrors(pg, run)));
app.MapGet("/guard/exec", async (string db, string api, bool? async, string run, string name, int? ms, int? n, bool? parallel, string? pg, bool? fail, int? id) =>
    Results.Json(await GuardScenarios.Exec(new GuardRequest(db, api, async == true, run, name, ms ?? 0, n ?? 1, parallel != false, pg, fail, id ?? 1))));
app.MapGet("/guard/count", (string run, string name) => Results.Json(new[] { GuardScenarios.Executions(run, name) }));

background.Start();
app.Run();

static string Self(HttpContext context) => $"http://{context.Request.Host}";

/// <summary>What the app saw for one case: a status and body, or an exception, or a gRPC status.</summary>
public sealed record CaseResult(string Case, int? Status, string? Body, string? Error, string? ErrorType, int? GrpcStatus = null, string? GrpcMessage = null, string? EchoedHeader = null)
{
    public static CaseResult Failed(string name, Exception ex) => new(name, (int?)(ex as HttpRequestException)?.StatusCode, null, ex.Message, ex.GetType().FullName);
}

/// <summary>A typed client from IHttpClientFactory.</summary>
public sealed class TypedClient
{
    private readonly HttpClient _http;

    public TypedClient(HttpClient http) => _http = http;

    public Task<CaseResult> Get(string name, string url) => HttpScenarios.Get(_http, name, url);
}

/// <summary>A worker started with the app, before any request: its calls run outside every request.</summary>
public sealed class BackgroundCaller
{
    private readonly BlockingCollection<(string Name, string Url, TaskCompletionSource<CaseResult> Done)> _work = new();

    public void Start()
    {
        var thread = new Thread(() =>
        {
            using var http = new HttpClient();
            foreach (var (name, url, done) in _work.GetConsumingEnumerable())
            {
                done.SetResult(HttpScenarios.Get(http, name, url).GetAwaiter().GetResult());
            }
        })
        { IsBackground = true, Name = "background caller" };
        thread.Start();
    }

    public Task<CaseResult> Call(string name, string url)
    {
        var done = new TaskCompletionSource<CaseResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add((name, url, done));
        return done.Task;
    }
}
