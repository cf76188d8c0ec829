using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// ROLE: gateway | a | b. SERVED_BY: the name this instance answers with ("a@gray").
// NEXT_URL: where gateway and a send their hop.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
string role = builder.Configuration["ROLE"] ?? "gateway";
string servedBy = builder.Configuration["SERVED_BY"] ?? role;
string next = builder.Configuration["NEXT_URL"] ?? "http://127.0.0.1:1";
if (role == "b")
{
    // A gRPC service: HTTP/2 cleartext only, as grpc-dotnet servers usually run behind a mesh.
    builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(e => e.Protocols = HttpProtocols.Http2));
}

// Distributed tracing on, as in most production apps: ASP.NET Core then turns an arriving
// baggage header into the request activity's baggage, and HttpClient writes that baggage into
// every call it makes — unless the call already has a baggage header.
ActivitySource.AddActivityListener(new ActivityListener
{
    ShouldListenTo = _ => true,
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
});

var stats = new Stats();
var http = new HttpClient { BaseAddress = new Uri(next), Timeout = TimeSpan.FromSeconds(20) };
var grpc = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { BaseAddress = new Uri(next), Timeout = TimeSpan.FromSeconds(20) };
var app = builder.Build();

app.MapGet("/health", () => Results.Ok(new { servedBy }));
app.MapGet("/stats", () => Results.Json(stats.Snapshot()));

// "/index" too: the OpenSergo documentation's example rule labels requests for /index.
// Typed as a Func: a method group returning Task<IResult> would bind to the RequestDelegate
// overload and its result would never be written.
var hop = (Func<HttpContext, Task<IResult>>)Hop;
app.MapGet("/chain", hop);
app.MapGet("/index", hop);

app.MapPost("/chain.Hop/Next", async (HttpContext context) =>
{
    stats.Count(context.Request);
    context.Response.ContentType = "application/grpc";
    await GrpcHop.ReadAsync(context.Request.Body, context.RequestAborted);
    await context.Response.Body.WriteAsync(GrpcHop.Frame(servedBy), context.RequestAborted);
    context.Response.AppendTrailer("grpc-status", "0");
});

app.Run();

async Task<IResult> Hop(HttpContext context)
{
    stats.Count(context.Request);
    try
    {
        if (role == "gateway")
        {
            // The app's own baggage item, which must reach the end of the chain next to the label.
            Activity.Current?.SetBaggage("tenant", "t1");
            // The hop leaves from a thread-pool work item, not from the request's own flow.
            var (status, body) = await Task.Run(async () =>
            {
                using var response = await http.GetAsync("/chain", context.RequestAborted);
                return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(context.RequestAborted));
            });
            using var json = JsonDocument.Parse(body);
            var via = new List<string> { servedBy };
            via.AddRange(json.RootElement.GetProperty("via").EnumerateArray().Select(v => v.GetString() ?? "?"));
            string? error = json.RootElement.TryGetProperty("error", out var e) ? e.GetString() : null;
            return Results.Json(new { via, error }, statusCode: status);
        }

        string downstream = await GrpcHop.CallAsync(grpc, servedBy, context.RequestAborted);
        return Results.Json(new { via = new[] { servedBy, downstream } });
    }
    catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException or JsonException or KeyNotFoundException)
    {
        return Results.Json(new { error = ex.Message, via = new[] { servedBy } }, statusCode: StatusCodes.Status502BadGateway);
    }
}

/// <summary>What this instance served, and the labels the requests carried (per carrier).</summary>
internal sealed class Stats
{
    private readonly ConcurrentDictionary<string, int> _header = new();
    private readonly ConcurrentDictionary<string, int> _baggage = new();
    private int _served;
    private int _tenant;

    public void Count(HttpRequest request)
    {
        Interlocked.Increment(ref _served);
        string header = request.Headers["x-governor-tag"].ToString();
        _header.AddOrUpdate(header.Length == 0 ? "(none)" : header, 1, (_, n) => n + 1);
        // W3C baggage members: "key = value;properties", whitespace allowed around '=' (.NET's
        // tracing writes "tenant = t1, OpenSergo-Label = gray").
        string label = "(none)";
        foreach (string member in request.Headers["baggage"].ToString().Split(','))
        {
            string[] pair = member.Split(';')[0].Split('=', 2);
            string key = pair[0].Trim();
            string value = pair.Length == 2 ? pair[1].Trim() : string.Empty;
            if (key == "OpenSergo-Label")
            {
                label = value;
            }
            else if (key == "tenant" && value == "t1")
            {
                Interlocked.Increment(ref _tenant);
            }
        }

        _baggage.AddOrUpdate(label, 1, (_, n) => n + 1);
    }

    public object Snapshot() => new { served = Volatile.Read(ref _served), tenant = Volatile.Read(ref _tenant), header = new SortedDictionary<string, int>(_header), baggage = new SortedDictionary<string, int>(_baggage) };
}

/// <summary>A unary gRPC call and its server side, with one string field (protobuf field 1) each way.</summary>
internal static class GrpcHop
{
    public static async Task<string> CallAsync(HttpClient client, string caller, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/chain.Hop/Next")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(Frame(caller)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.Headers.TryGetValues("grpc-status", out var early) && early.First() != "0")
        {
            throw new HttpRequestException($"grpc-status {early.First()}");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        string reply = await ReadAsync(body, cancellationToken);
        while (await body.ReadAsync(new byte[64], cancellationToken) > 0)
        {
        }

        if (!response.TrailingHeaders.TryGetValues("grpc-status", out var status) || status.First() != "0")
        {
            throw new HttpRequestException("the gRPC call did not end with grpc-status 0");
        }

        return reply;
    }

    public static byte[] Frame(string value)
    {
        byte[] text = Encoding.UTF8.GetBytes(value);
        var message = new List<byte> { 0x0A };
        for (uint n = (uint)text.Length; ; n >>= 7)
        {
            if (n < 0x80)
            {
                message.Add((byte)n);
                break;
            }

            message.Add((byte)(n | 0x80));
        }

        message.AddRange(text);
        byte[] frame = new byte[5 + message.Count];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Count);
        message.CopyTo(frame, 5);
        return frame;
    }

    public static async Task<string> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        byte[] header = new byte[5];
        await stream.ReadExactlyAsync(header, cancellationToken);
        byte[] payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1))];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        if (payload.Length == 0)
        {
            return string.Empty;
        }

        if (payload[0] != 0x0A)
        {
            throw new InvalidDataException("unexpected protobuf field");
        }

        int length = 0;
        int shift = 0;
        int i = 1;
        while (true)
        {
            byte b = payload[i++];
            length |= (b & 0x7F) << shift;
            if (b < 0x80)
            {
                break;
            }

            shift += 7;
        }

        return Encoding.UTF8.GetString(payload, i, length);
    }
}
