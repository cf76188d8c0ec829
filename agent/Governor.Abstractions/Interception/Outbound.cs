using System.Net;
using System.Net.Http.Headers;

namespace Governor.Interception;

/// <summary>A governance handler for outbound HTTP calls (every HttpClient, gRPC included).</summary>
public interface IOutboundHandler
{
    /// <summary>
    /// Sees the call before it is sent; may change <see cref="OutboundCall.Request"/> (headers,
    /// destination). Return null to send it, or a response to answer instead of the network.
    /// Runs again before each retry (<see cref="OutboundCall.Attempt"/> &gt; 0).
    /// </summary>
    ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken);

    /// <summary>
    /// Sees the outcome. Return <see cref="OutboundDecision.Retry"/> to have the provider send
    /// the call once more (at most <see cref="OutboundCall.MaxAttempts"/> attempts in all; only
    /// when the request can be sent again, see <see cref="OutboundCall.CanRetry"/>).
    /// </summary>
    OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome);
}

public enum OutboundDecision
{
    None,
    Retry,
}

/// <summary>An outbound call as handlers see it.</summary>
public abstract class OutboundCall : InterceptedCall
{
    /// <summary>Attempts the provider makes at most (the first send plus retries).</summary>
    public const int MaxAttempts = 3;

    /// <summary>The request; handlers may change it.</summary>
    public abstract HttpRequestMessage Request { get; }

    /// <summary>0 for the first send, 1 for the first retry, ...</summary>
    public int Attempt { get; protected set; }

    /// <summary>The context of the inbound request that caused this call, or null outside any request.</summary>
    public RequestContext? Context { get; protected set; }

    /// <summary>True when <c>content-type</c> is <c>application/grpc</c>.</summary>
    public bool IsGrpc { get; protected set; }

    /// <summary>"/package.Service/Method" for gRPC calls.</summary>
    public string? GrpcMethod => IsGrpc ? Request.RequestUri?.AbsolutePath : null;

    /// <summary>
    /// True when the request may be sent again: GET, HEAD, PUT, DELETE, OPTIONS, TRACE, or a gRPC
    /// call marked idempotent (<c>grpc-idempotent: true</c> request header or
    /// <see cref="MarkIdempotent"/>); and no streaming body.
    /// </summary>
    public abstract bool CanRetry { get; }

    /// <summary>Marks this call as safe to retry (e.g. a gRPC method known to be idempotent).</summary>
    public abstract void MarkIdempotent();
}

/// <summary>How an outbound attempt ended: a response or an exception.</summary>
public readonly struct OutboundOutcome
{
    public OutboundOutcome(HttpResponseMessage? response, Exception? exception, long elapsedTicks, bool answeredByHandler)
    {
        Response = response;
        Exception = exception;
        ElapsedTicks = elapsedTicks;
        AnsweredByHandler = answeredByHandler;
    }

    public HttpResponseMessage? Response { get; }

    public Exception? Exception { get; }

    public long ElapsedTicks { get; }

    public TimeSpan Elapsed => TimeSpan.FromSeconds(ElapsedTicks / (double)System.Diagnostics.Stopwatch.Frequency);

    public bool AnsweredByHandler { get; }

    /// <summary>True when the connection was refused (nothing listens there: an instance that is gone or going).</summary>
    public bool IsConnectionRefused
    {
        get
        {
            for (var e = Exception; e is not null; e = e.InnerException)
            {
                if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The gRPC status when the response carries it in its headers (trailers-only), else -1.</summary>
    public int GrpcStatusFromHeaders
    {
        get
        {
            if (Response?.Headers.TryGetValues("grpc-status", out var values) == true)
            {
                foreach (var v in values)
                {
                    return int.TryParse(v, out int s) ? s : -1;
                }
            }

            return -1;
        }
    }
}

/// <summary>Builds synthetic responses for handlers that answer instead of the network.</summary>
public static class SyntheticResponses
{
    /// <summary>
    /// A gRPC trailers-only response (HTTP 200, <c>content-type: application/grpc</c>, and
    /// <c>grpc-status</c>/<c>grpc-message</c> as headers), which gRPC clients over HttpClient
    /// turn into an RpcException with that status.
    /// </summary>
    public static HttpResponseMessage GrpcTrailersOnly(HttpRequestMessage request, int grpcStatus, string? message)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = request,
            Version = request.Version,
            Content = new ByteArrayContent(Array.Empty<byte>()),
        };
        response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        response.Headers.TryAddWithoutValidation("grpc-status", grpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (message is not null)
        {
            response.Headers.TryAddWithoutValidation("grpc-message", Uri.EscapeDataString(message));
        }

        return response;
    }

    /// <summary>A plain HTTP response with a text body and extra headers.</summary>
    public static HttpResponseMessage Http(HttpRequestMessage request, int statusCode, string? body, IReadOnlyList<KeyValuePair<string, string>>? headers = null)
    {
        var response = new HttpResponseMessage((HttpStatusCode)statusCode)
        {
            RequestMessage = request,
            Content = new StringContent(body ?? string.Empty),
        };
        if (headers is not null)
        {
            foreach (var h in headers)
            {
                if (!response.Headers.TryAddWithoutValidation(h.Key, h.Value))
                {
                    response.Content.Headers.TryAddWithoutValidation(h.Key, h.Value);
                }
            }
        }

        return response;
    }
}
