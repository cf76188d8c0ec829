using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Answers instead of the app for requests that carry the header <c>plugins:&lt;name&gt;:header</c>
/// (default <c>x-block</c>) or whose path starts with <c>plugins:&lt;name&gt;:path</c>: plain HTTP
/// with <c>status</c>, <c>body</c>, <c>contentType</c> and <c>headers</c> (a list of name=value),
/// gRPC calls trailers-only with <c>grpcStatus</c> and <c>grpcMessage</c>. Optionally adds a
/// response header to every request it lets through (<c>passHeader</c>, name=value). Sleeps
/// <c>startDelay</c> in Start.
/// </summary>
public sealed class InboundBlockingPlugin : IGovernorPlugin, IInboundHandler
{
    private IDisposable? _subscription;
    private string _header = "x-block";
    private string? _path;
    private InboundResponse _http = new(403);
    private InboundResponse _grpc = InboundResponse.Grpc(7, null);
    private KeyValuePair<string, string>? _passHeader;

    public void Start(IPluginContext context)
    {
        var s = context.Settings;

        // A governance plugin that is slow to start (startup tests): the agent starts it alongside the app.
        Thread.Sleep(s.GetDuration("startDelay", TimeSpan.Zero));
        _header = s.GetString("header") ?? "x-block";
        _path = s.GetString("path");
        var headers = new List<KeyValuePair<string, string>>();
        foreach (string item in s.GetList("headers"))
        {
            headers.Add(Pair(item));
        }

        _http = new InboundResponse(s.GetInt("status", 403, 100, 599), s.GetString("body"), s.GetString("contentType"), headers);
        _grpc = InboundResponse.Grpc(s.GetInt("grpcStatus", 7, 0, 16), s.GetString("grpcMessage"));
        _passHeader = s.GetString("passHeader") is { } pass ? Pair(pass) : null;
        _subscription = context.Interception.Inbound.Subscribe(this, s.GetInt("order", 10), context.PluginName);
    }

    public void Stop() => _subscription?.Dispose();

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
    {
        bool block = call.GetHeader(_header) is not null || (_path is not null && call.Path.StartsWith(_path, StringComparison.Ordinal));
        if (!block)
        {
            if (_passHeader is { } h)
            {
                call.AddResponseHeader(h.Key, h.Value);
            }

            return default;
        }

        return new ValueTask<InboundResponse?>(call.IsGrpc ? _grpc : _http);
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
    }

    private static KeyValuePair<string, string> Pair(string item)
    {
        int eq = item.IndexOf('=', StringComparison.Ordinal);
        return eq < 0 ? new(item, string.Empty) : new(item[..eq].Trim(), item[(eq + 1)..].Trim());
    }
}
