using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Records every outbound HTTP call and every SQL command as one JSON line each (<c>"kind"</c>
/// "outbound" or "sql") in the file named by <c>plugins:&lt;name&gt;:file</c> or
/// <c>GOVERNOR_TEST_OUTBOUND_RECORD_FILE</c>. Outbound: method, URI, attempt, gRPC method, the
/// request headers named in <c>headers</c>, the header it adds itself (<c>addHeader</c>,
/// name=value; the value gets the attempt appended), status, gRPC status from headers, exception,
/// whether a handler answered, duration. SQL: text, provider, data source, database, kind, async,
/// duration, exception, whether a handler rejected it. Both: the request context (present,
/// traffic label, inbound resource, baggage).
/// </summary>
public sealed class OutboundSqlRecordingPlugin : IGovernorPlugin, IOutboundHandler, ISqlHandler
{
    private readonly object _gate = new();
    private readonly List<IDisposable> _subscriptions = new();
    private StreamWriter? _writer;
    private IReadOnlyList<string> _headers = Array.Empty<string>();
    private KeyValuePair<string, string>? _addHeader;

    public void Start(IPluginContext context)
    {
        var s = context.Settings;
        string file = s.GetString("file") ?? Environment.GetEnvironmentVariable("GOVERNOR_TEST_OUTBOUND_RECORD_FILE")
            ?? Path.Combine(context.Agent.LogDirectory, $"outbound-{context.Agent.ProcessId}.jsonl");
        _writer = new StreamWriter(new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        _headers = s.GetList("headers");
        _addHeader = s.GetString("addHeader") is { } add ? TestPluginText.Pair(add) : null;
        int order = s.GetInt("order", 0);
        _subscriptions.Add(context.Interception.Outbound.Subscribe(this, order, context.PluginName));
        _subscriptions.Add(context.Interception.Sql.Subscribe(this, order, context.PluginName));
        context.SetDetail($"recording outbound calls and SQL commands to {file}");
    }

    public void Stop()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }

        lock (_gate)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken)
    {
        if (_addHeader is { } header)
        {
            call.Request.Headers.Remove(header.Key);
            call.Request.Headers.TryAddWithoutValidation(header.Key, $"{header.Value}-{call.Attempt}");
        }

        // What the request looked like when it left this handler (later handlers may change it).
        call.State = call.Request.RequestUri?.ToString();
        return default;
    }

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome)
    {
        var request = call.Request;
        var seen = outcome;
        Write(json =>
        {
            json.WriteString("kind", "outbound");
            json.WriteString("method", request.Method.Method);
            json.WriteString("uri", request.RequestUri?.ToString());
            json.WriteString("uriAtRequest", call.State as string);
            json.WriteString("version", request.Version.ToString());
            json.WriteNumber("attempt", call.Attempt);
            json.WriteBoolean("grpc", call.IsGrpc);
            json.WriteString("grpcMethod", call.GrpcMethod);
            json.WriteStartObject("headers");
            foreach (string name in _headers)
            {
                json.WriteString(name, request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null);
            }

            json.WriteEndObject();
            json.WriteString("addedHeader", _addHeader is { } h ? $"{h.Key}: {h.Value}-{call.Attempt}" : null);
            if (seen.Response is { } response)
            {
                json.WriteNumber("status", (int)response.StatusCode);
            }
            else
            {
                json.WriteNull("status");
            }

            json.WriteNumber("grpcStatusFromHeaders", seen.GrpcStatusFromHeaders);
            json.WriteString("exception", seen.Exception?.GetType().FullName);
            json.WriteString("exceptionMessage", seen.Exception?.Message);
            json.WriteBoolean("answered", seen.AnsweredByHandler);
            json.WriteBoolean("canRetry", call.CanRetry);
            json.WriteNumber("durationMs", seen.Elapsed.TotalMilliseconds);
            WriteContext(json, call.Context);
        });
        return OutboundDecision.None;
    }

    public Exception? OnExecuting(SqlCall call)
    {
        call.State = Stopwatch.GetTimestamp();
        return null;
    }

    public void OnExecuted(SqlCall call, in SqlOutcome outcome)
    {
        var exception = outcome.Exception;
        bool rejected = outcome.RejectedByHandler;
        long elapsed = outcome.ElapsedTicks;
        long sinceStart = call.State is long start ? Stopwatch.GetTimestamp() - start : -1;
        Write(json =>
        {
            json.WriteString("kind", "sql");
            json.WriteString("text", call.CommandText);
            json.WriteString("provider", call.Provider);
            json.WriteString("dataSource", call.DataSource);
            json.WriteString("database", call.Database);
            json.WriteString("sqlKind", call.Kind.ToString());
            json.WriteBoolean("async", call.IsAsync);
            json.WriteNumber("durationMs", elapsed * 1000.0 / Stopwatch.Frequency);
            json.WriteNumber("untilOutcomeMs", sinceStart * 1000.0 / Stopwatch.Frequency);
            json.WriteString("exception", exception?.GetType().FullName);
            json.WriteString("exceptionMessage", exception?.Message);
            json.WriteBoolean("rejected", rejected);
            json.WriteNumber("thread", Environment.CurrentManagedThreadId);
            WriteContext(json, call.Context);
        });
    }

    private static void WriteContext(Utf8JsonWriter json, RequestContext? context)
    {
        json.WriteBoolean("context", context is not null);
        json.WriteString("trafficLabel", context?.TrafficLabel);
        json.WriteString("inboundResource", context?.InboundResource);
        json.WriteStartObject("baggage");
        if (context is not null)
        {
            foreach (var item in context.Baggage)
            {
                json.WriteString(item.Key, item.Value);
            }
        }

        json.WriteEndObject();
    }

    private void Write(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        string line = Encoding.UTF8.GetString(buffer.ToArray());
        lock (_gate)
        {
            _writer?.WriteLine(line);
        }
    }
}
