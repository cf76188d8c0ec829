using Governor.Interception;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// An inbound request over an <see cref="HttpContext"/>. Pooled (see <see cref="CallPool"/>): one
/// instance serves many requests, so nothing here allocates on the pass path; every accessor reads
/// the live HttpContext.
/// </summary>
internal sealed class HttpInboundCall : InboundCall
{
    private HttpContext? _http;
    private int _grpc; // 0 = not looked at yet, 1 = no, 2 = yes: the content-type lookup is paid only when asked
    private bool _completed;
    private bool _routeResolved;
    private string? _completedRoute;
    private IExceptionHandlerFeature? _handled;
    private Endpoint? _matched;

    /// <summary>The handler snapshot this call runs through.</summary>
    internal IInboundHandler[] Handlers { get; private set; } = Array.Empty<IInboundHandler>();

    /// <summary>How many handlers (from the first) had their request callback run.</summary>
    internal int Ran { get; set; }

    internal HttpContext Http => _http!;

    /// <summary>The context, or null once the call went back to the pool (read by <see cref="RouteCallTable"/> from other threads).</summary>
    internal HttpContext? HttpOrNull => Volatile.Read(ref _http);

    /// <summary>The call's slot in <see cref="RouteCallTable"/> while the route stage may look for it, else -1.</summary>
    internal int RouteSlot { get; set; } = -1;

    /// <summary>True when the table was full and the call was registered on its HttpContext as a feature instead.</summary>
    internal bool RouteStageRegistered { get; set; }

    /// <summary>The route stage ran (it runs once per request, for the first endpoint matched).</summary>
    internal bool RouteStageRan { get; set; }

    /// <summary>The endpoint routing matched when the route stage ran (the app's, before any replacement).</summary>
    internal Endpoint? MatchedEndpoint
    {
        get => _matched;
        set => _matched = value;
    }

    /// <summary>A route handler's pending decision; awaited before completion.</summary>
    internal Task<InboundResponse?>? RouteWait { get; set; }

    /// <summary>The answer a route handler gave, set when it was written instead of the app's endpoint.</summary>
    internal InboundResponse? RouteAnswer { get; set; }

    public override string Method => _http!.Request.Method;

    public override string Path => _http!.Request.Path.Value ?? string.Empty;

    /// <summary>
    /// Null at request time unless routing matched before the Governor middleware (it is outermost,
    /// so normally it has not); at completion the matched endpoint's route pattern (for a request
    /// the app's exception handler re-executed: the endpoint that failed, not the error page).
    /// </summary>
    public override string? RouteTemplate
    {
        get
        {
            if (!_completed)
            {
                return RoutePatternOf(_http!.GetEndpoint());
            }

            // Resolved on first use only: a completion no handler asks about costs no lookup.
            // The matched endpoint covers a request the route stage answered (its endpoint was replaced).
            if (!_routeResolved)
            {
                _completedRoute = RoutePatternOf(_handled?.Endpoint) ?? RoutePatternOf(_http!.GetEndpoint()) ?? RoutePatternOf(_matched);
                _routeResolved = true;
            }

            return _completedRoute;
        }
    }

    public override string Protocol => _http!.Request.Protocol;

    public override string Scheme => _http!.Request.Scheme;

    public override string Host => _http!.Request.Host.Value ?? string.Empty;

    public override bool IsGrpc
    {
        get
        {
            if (_grpc == 0)
            {
                _grpc = IsGrpcContentType(_http!.Request.ContentType) ? 2 : 1;
            }

            return _grpc == 2;
        }
    }

    public override object NativeContext => _http!;

    /// <summary>Kestrel creates the token's source on first use, so requests no handler asks about pay nothing.</summary>
    public override CancellationToken RequestAborted => _http!.RequestAborted;

    public void Start(HttpContext http, IInboundHandler[] handlers, long timestamp)
    {
        _http = http;
        Handlers = handlers;
        StartTimestamp = timestamp;
    }

    /// <summary>
    /// From now on the route template is the one of the completed request (for a request the
    /// app's exception handler re-executed: the endpoint that failed, from <paramref name="handled"/>).
    /// </summary>
    public void Complete(IExceptionHandlerFeature? handled)
    {
        _handled = handled;
        _completed = true;
    }

    public void Reset()
    {
        ResetState();
        Volatile.Write(ref _http, null);
        _grpc = 0;
        _completed = false;
        _routeResolved = false;
        _completedRoute = null;
        _handled = null;
        _matched = null;
        RouteSlot = -1;
        RouteStageRegistered = false;
        RouteStageRan = false;
        RouteWait = null;
        RouteAnswer = null;
        Handlers = Array.Empty<IInboundHandler>();
        Ran = 0;
    }

    public override string? GetHeader(string name)
    {
        // TryGetValue on Kestrel's and the default header dictionaries does not allocate.
        return _http!.Request.Headers.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;
    }

    public override string? GetQuery(string name)
    {
        var request = _http!.Request;
        var raw = request.QueryString;
        // Request.Query parses (and allocates) on first use: only go there when the name can be in the raw query.
        if (!raw.HasValue || raw.Value!.AsSpan().IndexOf(name.AsSpan(), StringComparison.OrdinalIgnoreCase) < 0)
        {
            return null;
        }

        return request.Query.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;
    }

    public override string? GetCookie(string name)
    {
        var request = _http!.Request;
        // Same idea as GetQuery: the cookie collection is parsed lazily, so look at the raw header first.
        if (!request.Headers.TryGetValue("Cookie", out var header) || !Contains(header, name))
        {
            return null;
        }

        return request.Cookies.TryGetValue(name, out string? value) ? value : null;
    }

    public override void AddResponseHeader(string name, string value)
    {
        var response = _http!.Response;
        if (!response.HasStarted)
        {
            // Applied now rather than through OnStarting, which would allocate a callback per call.
            response.Headers.Append(name, value);
        }
    }

    internal void AdoptContext(RequestContext? context) => SetContext(context);

    /// <summary>content-type "application/grpc", "application/grpc+proto", "application/grpc;...".</summary>
    internal static bool IsGrpcContentType(string? contentType)
    {
        const string Grpc = "application/grpc";
        if (contentType is null || !contentType.StartsWith(Grpc, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return contentType.Length == Grpc.Length || contentType[Grpc.Length] is '+' or ';';
    }

    private static string? RoutePatternOf(Endpoint? endpoint) => (endpoint as RouteEndpoint)?.RoutePattern.RawText;

    private static bool Contains(Microsoft.Extensions.Primitives.StringValues values, string name)
    {
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is { } v && v.AsSpan().IndexOf(name.AsSpan(), StringComparison.Ordinal) >= 0)
            {
                return true;
            }
        }

        return false;
    }
}
