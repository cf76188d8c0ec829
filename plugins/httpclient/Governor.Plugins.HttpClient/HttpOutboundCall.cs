using System.Diagnostics;
using Governor.Interception;

namespace Governor.Plugins.HttpClient;

/// <summary>
/// One outbound call as handlers see it. Pooled: the provider rents one per intercepted send and
/// returns it when the app gets its response, so the common path allocates nothing. Also keeps
/// the provider's own per-call state (the final result, the listener path's error).
/// </summary>
internal sealed class HttpOutboundCall : OutboundCall
{
    private HttpRequestMessage? _request;
    private bool _markedIdempotent;

    public override HttpRequestMessage Request => _request ?? throw new InvalidOperationException("The call is not in use (a handler kept it after its completion callback).");

    /// <summary>Listener path: the exception the runtime reported for this request.</summary>
    public Exception? ReportedError { get; set; }

    /// <summary>Listener path: how many handlers ran <see cref="IOutboundHandler.OnRequestAsync"/>.</summary>
    public int HandlersRan { get; set; }

    /// <summary>The handler snapshot this call runs with.</summary>
    public IOutboundHandler[] Handlers { get; private set; } = Array.Empty<IOutboundHandler>();

    public override bool CanRetry => IsIdempotent() && IsResendable(Request.Content);

    public override void MarkIdempotent() => _markedIdempotent = true;

    /// <summary>
    /// Starts a call. <paramref name="measure"/>: a subscriber wants durations (the clock is read
    /// only then; a read costs tens of nanoseconds on some virtual machines).
    /// </summary>
    public void Begin(HttpRequestMessage request, bool measure, IOutboundHandler[] handlers)
    {
        _request = request;
        Handlers = handlers;
        Context = RequestContext.Current;
        IsGrpc = IsGrpcContent(request.Content);
        Attempt = 0;
        Measure = measure;
        StartTimestamp = measure ? Stopwatch.GetTimestamp() : 0;
    }

    /// <summary>Whether durations are measured for this call.</summary>
    public bool Measure { get; private set; }

    /// <summary>Now, when this call measures durations; else 0.</summary>
    public long Now() => Measure ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Ticks since <paramref name="start"/>, or 0 when this call does not measure.</summary>
    public long Since(long start) => Measure ? Stopwatch.GetTimestamp() - start : 0;

    public void NextAttempt() => Attempt++;

    public void Reset()
    {
        // Only the handlers of this call's snapshot can have used their state slots.
        ResetState(Handlers.Length);
        _request = null;
        _markedIdempotent = false;
        Context = null;
        IsGrpc = false;
        Measure = false;
        Attempt = 0;
        ReportedError = null;
        HandlersRan = 0;
        Handlers = Array.Empty<IOutboundHandler>();
    }

    /// <summary>Methods that may be sent twice with the same effect (RFC 9110, 9.2.2), or gRPC calls marked idempotent.</summary>
    private bool IsIdempotent()
    {
        var method = Request.Method;
        if (method == HttpMethod.Get || method == HttpMethod.Head || method == HttpMethod.Put || method == HttpMethod.Delete
            || method == HttpMethod.Options || method == HttpMethod.Trace)
        {
            return true;
        }

        if (!IsGrpc)
        {
            return false;
        }

        if (_markedIdempotent)
        {
            return true;
        }

        if (Request.Headers.NonValidated.TryGetValues("grpc-idempotent", out var values))
        {
            foreach (string value in values)
            {
                if (string.Equals(value, "true", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Bodies the handler chain can serialize again: none, or buffered in memory. A stream or a
    /// custom content (client streaming) may be consumed by the first send.
    /// </summary>
    private static bool IsResendable(HttpContent? content) => content is null or ByteArrayContent or ReadOnlyMemoryContent;

    private static bool IsGrpcContent(HttpContent? content)
    {
        // The typed header is stored parsed when the app set it through the property (the usual
        // way): reading it allocates nothing. "application/grpc", "application/grpc+proto", ...
        string? mediaType = content?.Headers.ContentType?.MediaType;
        return mediaType is not null && mediaType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)
            && (mediaType.Length == 16 || mediaType[16] == '+');
    }
}
