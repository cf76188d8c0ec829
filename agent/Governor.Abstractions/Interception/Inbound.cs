namespace Governor.Interception;

/// <summary>
/// A governance handler for inbound requests (ASP.NET Core, HTTP/1.1 and HTTP/2, gRPC).
/// </summary>
public interface IInboundHandler
{
    /// <summary>
    /// Sees the request before the app. Return null to let it through, or a response to answer
    /// instead of the app (later handlers and the app are then skipped). Complete synchronously
    /// on the common path (a completed <see cref="ValueTask{T}"/> allocates nothing); go async
    /// only to wait (queueing). Values a handler puts on <see cref="InboundCall.Context"/> flow
    /// to what the request causes.
    /// </summary>
    ValueTask<InboundResponse?> OnRequestAsync(InboundCall call);

    /// <summary>
    /// Sees the outcome; runs for every handler whose <see cref="OnRequestAsync"/> ran, in
    /// reverse order, also when a handler answered or the app threw.
    /// </summary>
    void OnCompleted(InboundCall call, in InboundOutcome outcome);
}

/// <summary>
/// An optional second stage for an <see cref="IInboundHandler"/>: implemented by the same handler
/// object, it runs once per request after the app's routing matched an endpoint and before that
/// endpoint executes, when <see cref="InboundCall.RouteTemplate"/> is known. The first stage
/// (<see cref="IInboundHandler.OnRequestAsync"/>) runs before routing, where only the path, the
/// method and the gRPC method are known; decisions that need the route template belong here.
/// </summary>
/// <remarks>
/// Providers run the route stage only for handlers whose first stage ran and let the request
/// through, in the same order, with <see cref="InterceptedCall.HandlerIndex"/> set, so
/// <see cref="InterceptedCall.State"/> is the same slot as in the first stage. It runs at most once
/// per request (for the first endpoint matched: not again when an error page is re-executed), and
/// not at all when routing matched nothing or the app does not use endpoint routing.
/// <see cref="IInboundHandler.OnCompleted"/> runs as usual afterwards, whether or not this stage
/// ran. A provider that cannot run this stage never calls it (the ASP.NET Core provider does; see
/// docs/design.md, "Inbound interception").
/// </remarks>
public interface IInboundRouteHandler
{
    /// <summary>
    /// Return null to let the request through to the matched endpoint, or a response to answer
    /// instead of it (later route handlers and the endpoint are then skipped; middleware the app
    /// placed between routing and its endpoints still runs around the answer). Complete
    /// synchronously on the common path; a pending result (a wait) holds the request before the
    /// endpoint without blocking a thread.
    /// </summary>
    ValueTask<InboundResponse?> OnRouteMatchedAsync(InboundCall call);
}

/// <summary>An inbound request as handlers see it. Valid only during the callbacks.</summary>
public abstract class InboundCall : InterceptedCall
{
    private RequestContext? _context;

    public abstract string Method { get; }

    /// <summary>The request path without the path base, e.g. "/orders/42".</summary>
    public abstract string Path { get; }

    /// <summary>
    /// The route template (e.g. "/orders/{id}") when routing has already matched an endpoint:
    /// in <see cref="IInboundRouteHandler.OnRouteMatchedAsync"/> and at completion; usually null
    /// in <see cref="IInboundHandler.OnRequestAsync"/>, which runs before routing.
    /// </summary>
    public abstract string? RouteTemplate { get; }

    /// <summary>
    /// Signalled when the client goes away (connection closed, HTTP/2 stream reset) before the
    /// request completes. A handler that makes a request wait (queueing) stops waiting then and
    /// gives back what the request held. <see cref="CancellationToken.None"/> from providers that
    /// cannot tell.
    /// </summary>
    public virtual CancellationToken RequestAborted => CancellationToken.None;

    /// <summary>"HTTP/1.1", "HTTP/2", ...</summary>
    public abstract string Protocol { get; }

    public abstract string Scheme { get; }

    /// <summary>The Host header value (host and port).</summary>
    public abstract string Host { get; }

    /// <summary>True when <c>content-type</c> is <c>application/grpc</c> (or a subtype).</summary>
    public abstract bool IsGrpc { get; }

    /// <summary>The gRPC method, "/package.Service/Method", when <see cref="IsGrpc"/>.</summary>
    public string? GrpcMethod => IsGrpc ? Path : null;

    /// <summary>The first value of a request header, or null. Does not allocate when absent.</summary>
    public abstract string? GetHeader(string name);

    public abstract string? GetQuery(string name);

    public abstract string? GetCookie(string name);

    /// <summary>Adds a header to the response (applied when the response starts).</summary>
    public abstract void AddResponseHeader(string name, string value);

    /// <summary>The underlying <c>HttpContext</c>, for handlers that need more (typed as object so the contract does not depend on ASP.NET Core).</summary>
    public abstract object NativeContext { get; }

    /// <summary>The request's context, created on first use; the provider makes it current for the app's code.</summary>
    public RequestContext Context => _context ??= new RequestContext();

    /// <summary>The context if a handler created it, else null (providers use this to avoid allocating).</summary>
    public RequestContext? ContextIfCreated => _context;

    /// <summary>Adopts an existing context (e.g. one that came with the request) instead of creating one.</summary>
    protected void SetContext(RequestContext? context) => _context = context;

    protected new void ResetState()
    {
        base.ResetState();
        _context = null;
    }
}

/// <summary>A response a handler gives instead of the app. Immutable: build it once per rule, reuse it.</summary>
public sealed class InboundResponse
{
    public InboundResponse(int statusCode, string? body = null, string? contentType = null, IReadOnlyList<KeyValuePair<string, string>>? headers = null)
    {
        StatusCode = statusCode;
        Body = body is null ? ReadOnlyMemory<byte>.Empty : System.Text.Encoding.UTF8.GetBytes(body);
        ContentType = contentType ?? (body is null ? null : "text/plain; charset=utf-8");
        Headers = headers ?? Array.Empty<KeyValuePair<string, string>>();
    }

    private InboundResponse(int grpcStatus, string? grpcMessage, IReadOnlyList<KeyValuePair<string, string>>? headers)
    {
        StatusCode = 200;
        GrpcStatus = grpcStatus;
        GrpcMessage = grpcMessage;
        Body = ReadOnlyMemory<byte>.Empty;
        ContentType = "application/grpc";
        Headers = headers ?? Array.Empty<KeyValuePair<string, string>>();
    }

    /// <summary>A gRPC trailers-only response: HTTP 200, <c>grpc-status</c> and <c>grpc-message</c> in the headers.</summary>
    public static InboundResponse Grpc(int grpcStatus, string? message, IReadOnlyList<KeyValuePair<string, string>>? headers = null) => new(grpcStatus, message, headers);

    public int StatusCode { get; }

    public ReadOnlyMemory<byte> Body { get; }

    public string? ContentType { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>Set for gRPC answers; null for plain HTTP.</summary>
    public int? GrpcStatus { get; }

    public string? GrpcMessage { get; }
}

/// <summary>How an inbound request ended.</summary>
public readonly struct InboundOutcome
{
    public InboundOutcome(int statusCode, int grpcStatus, Exception? exception, long elapsedTicks, bool answeredByHandler)
    {
        StatusCode = statusCode;
        GrpcStatus = grpcStatus;
        Exception = exception;
        ElapsedTicks = elapsedTicks;
        AnsweredByHandler = answeredByHandler;
    }

    public int StatusCode { get; }

    /// <summary>The gRPC status when known (header or trailer), else -1.</summary>
    public int GrpcStatus { get; }

    /// <summary>The exception the app threw, if any.</summary>
    public Exception? Exception { get; }

    /// <summary>Duration in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    public long ElapsedTicks { get; }

    public TimeSpan Elapsed => TimeSpan.FromSeconds(ElapsedTicks / (double)System.Diagnostics.Stopwatch.Frequency);

    /// <summary>True when a handler answered instead of the app.</summary>
    public bool AnsweredByHandler { get; }
}
