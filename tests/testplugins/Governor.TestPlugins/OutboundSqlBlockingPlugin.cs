using System.Data.Common;
using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Acts on outbound calls and SQL commands, as governance plugins would:
/// answers outbound calls that carry the request header <c>header</c> or whose path starts with
/// one of <c>path</c> (a list) — plain HTTP with
/// <c>status</c> (418) and <c>body</c>, gRPC calls trailers-only with <c>grpcStatus</c> (14) and
/// <c>grpcMessage</c>; sends calls whose path starts with <c>reroutePath</c> to port
/// <c>reroutePort</c> on the same host instead; asks for a retry after the first attempt of calls
/// whose path starts with one of <c>retryPath</c> (a list); fails SQL commands whose text contains
/// <c>sqlPattern</c> with a <see cref="DbException"/> (<see cref="TestSqlBlockedException"/>).
/// </summary>
public sealed class OutboundSqlBlockingPlugin : IGovernorPlugin, IOutboundHandler, ISqlHandler
{
    private readonly List<IDisposable> _subscriptions = new();
    private IReadOnlyList<string> _paths = Array.Empty<string>();
    private IReadOnlyList<string> _retryPaths = Array.Empty<string>();
    private string? _header;
    private string? _reroutePath;
    private int _reroutePort;
    private string? _sqlPattern;
    private int _status = 418;
    private string? _body;
    private int _grpcStatus = 14;
    private string? _grpcMessage;

    public void Start(IPluginContext context)
    {
        var s = context.Settings;
        _paths = s.GetList("path");
        _retryPaths = s.GetList("retryPath");
        _header = s.GetString("header");
        _reroutePath = s.GetString("reroutePath");
        _reroutePort = s.GetInt("reroutePort", 0, 0, 65535);
        _sqlPattern = s.GetString("sqlPattern");
        _status = s.GetInt("status", 418, 100, 599);
        _body = s.GetString("body");
        _grpcStatus = s.GetInt("grpcStatus", 14, 0, 16);
        _grpcMessage = s.GetString("grpcMessage");
        int order = s.GetInt("order", 10);
        // It never reads durations: the providers need not read the clock for it.
        _subscriptions.Add(context.Interception.Outbound.Subscribe(this, order, context.PluginName, measuresDuration: false));
        _subscriptions.Add(context.Interception.Sql.Subscribe(this, order, context.PluginName, measuresDuration: false));
    }

    public void Stop()
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }
    }

    public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken)
    {
        var request = call.Request;
        string path = request.RequestUri?.AbsolutePath ?? string.Empty;
        if (_reroutePath is not null && path.StartsWith(_reroutePath, StringComparison.Ordinal) && request.RequestUri is { } uri)
        {
            request.RequestUri = new UriBuilder(uri) { Port = _reroutePort }.Uri;
        }

        bool block = _header is not null && request.Headers.Contains(_header);
        foreach (string prefix in _paths)
        {
            block |= path.StartsWith(prefix, StringComparison.Ordinal);
        }

        if (!block)
        {
            return default;
        }

        return new ValueTask<HttpResponseMessage?>(call.IsGrpc
            ? SyntheticResponses.GrpcTrailersOnly(request, _grpcStatus, _grpcMessage)
            : SyntheticResponses.Http(request, _status, _body, new[] { new KeyValuePair<string, string>("x-blocked-by", "governor-test") }));
    }

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome)
    {
        if (call.Attempt != 0)
        {
            return OutboundDecision.None;
        }

        string path = call.Request.RequestUri?.AbsolutePath ?? string.Empty;
        foreach (string prefix in _retryPaths)
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return OutboundDecision.Retry;
            }
        }

        return OutboundDecision.None;
    }

    public Exception? OnExecuting(SqlCall call) =>
        _sqlPattern is not null && call.CommandText.Contains(_sqlPattern, StringComparison.Ordinal)
            ? new TestSqlBlockedException($"blocked by the test plugin: command matches '{_sqlPattern}'")
            : null;

    public void OnExecuted(SqlCall call, in SqlOutcome outcome)
    {
    }
}

/// <summary>The database error the blocking test plugin fails commands with.</summary>
public sealed class TestSqlBlockedException : DbException
{
    public TestSqlBlockedException(string message)
        : base(message)
    {
    }
}
