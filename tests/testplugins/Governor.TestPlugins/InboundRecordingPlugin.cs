using System.Diagnostics;
using System.Text.Json;
using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Records every inbound call (method, path, route template at request time and at completion,
/// gRPC method, selected headers/query/cookies, status, gRPC status, exception, duration) as one
/// JSON line per call in the file named by <c>plugins:&lt;name&gt;:file</c> or
/// <c>GOVERNOR_TEST_RECORD_FILE</c>. Unless the request has <c>x-no-context</c>, it puts a value on
/// the request context (<c>x-test-tag</c>, else the path), which the app can read from any flow
/// through the BCL-typed probe <c>AppContext.GetData("TestProbe.RequestContext")</c>.
/// </summary>
public sealed class InboundRecordingPlugin : IGovernorPlugin, IInboundHandler
{
    public static readonly ContextKey<string> TagKey = new("test.tag");

    private static readonly object s_stateMarker = new();
    private readonly object _gate = new();
    private IDisposable? _subscription;
    private StreamWriter? _writer;
    private IReadOnlyList<string> _headers = Array.Empty<string>();
    private IReadOnlyList<string> _query = Array.Empty<string>();
    private IReadOnlyList<string> _cookies = Array.Empty<string>();

    public void Start(IPluginContext context)
    {
        string file = context.Settings.GetString("file") ?? Environment.GetEnvironmentVariable("GOVERNOR_TEST_RECORD_FILE")
            ?? Path.Combine(context.Agent.LogDirectory, $"inbound-{context.Agent.ProcessId}.jsonl");
        _writer = new StreamWriter(new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        _headers = context.Settings.GetList("headers");
        _query = context.Settings.GetList("query");
        _cookies = context.Settings.GetList("cookies");
        _subscription = context.Interception.Inbound.Subscribe(this, context.Settings.GetInt("order", 0), context.PluginName);
        AppContext.SetData("TestProbe.RequestContext", (Func<string>)(() => RequestContext.Current?.Get(TagKey) ?? "(none)"));
        context.SetDetail($"recording to {file}");
    }

    public void Stop()
    {
        _subscription?.Dispose();
        lock (_gate)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
    {
        call.State = new Seen(call.RouteTemplate, s_stateMarker);
        if (call.GetHeader("x-no-context") is null)
        {
            call.Context.Set(TagKey, call.GetHeader("x-test-tag") ?? call.Path);
        }

        return default;
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
        var seen = call.State as Seen;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("method", call.Method);
            json.WriteString("path", call.Path);
            json.WriteString("protocol", call.Protocol);
            json.WriteString("scheme", call.Scheme);
            json.WriteString("host", call.Host);
            json.WriteString("routeAtRequest", seen?.RouteAtRequest);
            json.WriteString("route", call.RouteTemplate);
            json.WriteBoolean("grpc", call.IsGrpc);
            json.WriteString("grpcMethod", call.GrpcMethod);
            json.WriteBoolean("stateKept", ReferenceEquals(seen?.Marker, s_stateMarker));
            WriteMap(json, "headers", _headers, call.GetHeader);
            WriteMap(json, "query", _query, call.GetQuery);
            WriteMap(json, "cookies", _cookies, call.GetCookie);
            json.WriteString("context", call.ContextIfCreated?.Get(TagKey));
            json.WriteNumber("status", outcome.StatusCode);
            json.WriteNumber("grpcStatus", outcome.GrpcStatus);
            json.WriteString("exception", outcome.Exception?.GetType().FullName);
            json.WriteString("exceptionMessage", outcome.Exception?.Message);
            json.WriteBoolean("answered", outcome.AnsweredByHandler);
            json.WriteNumber("durationMs", outcome.ElapsedTicks * 1000.0 / Stopwatch.Frequency);
            json.WriteEndObject();
        }

        string line = System.Text.Encoding.UTF8.GetString(buffer.ToArray());
        lock (_gate)
        {
            _writer?.WriteLine(line);
        }
    }

    private static void WriteMap(Utf8JsonWriter json, string name, IReadOnlyList<string> keys, Func<string, string?> read)
    {
        json.WriteStartObject(name);
        foreach (string key in keys)
        {
            json.WriteString(key, read(key));
        }

        json.WriteEndObject();
    }

    private sealed record Seen(string? RouteAtRequest, object Marker);
}
