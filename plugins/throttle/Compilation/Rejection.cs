using System.Net.Http.Headers;
using Governor.Interception;
using Governor.Plugins.Throttle.Rules;

namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// What a rejected request gets, built once per resource and fallback action: the inbound
/// responses are immutable and reused for every rejection; outbound responses are created per
/// call because the caller owns (and disposes) them.
/// </summary>
internal sealed class Rejection
{
    public Rejection(string resource, FallbackSpec? fallback)
    {
        Resource = resource;
        string defaultText = $"Too many requests for '{resource}'; try again later.";
        StatusCode = fallback?.StatusCode ?? FallbackSpec.DefaultStatusCode;

        // A configured fallback is the user's response: its body is used as written, even empty.
        Body = fallback is null ? defaultText : fallback.Body ?? string.Empty;
        ContentType = fallback?.ContentType;
        Headers = fallback?.Headers ?? Array.Empty<KeyValuePair<string, string>>();
        Message = string.IsNullOrEmpty(fallback?.Body) ? defaultText : fallback.Body;
        Http = new InboundResponse(StatusCode, Body.Length == 0 ? null : Body, ContentType, Headers);
        Grpc = InboundResponse.Grpc(ResourceExhausted, Message, Headers);
    }

    /// <summary>gRPC status RESOURCE_EXHAUSTED.</summary>
    public const int ResourceExhausted = 8;

    /// <summary>
    /// What a request whose client went away while it waited in the queue gets, so that the app
    /// does not serve it: nobody reads it. 499 is the status proxies log for "client closed
    /// request"; gRPC's CANCELLED (1) is what the client itself reports.
    /// </summary>
    public static readonly InboundResponse ClientGone = new(499);

    public static readonly InboundResponse GrpcClientGone = InboundResponse.Grpc(1, "The client cancelled the call while it waited in Governor's queue.");

    public string Resource { get; }

    public int StatusCode { get; }

    public string Body { get; }

    public string? ContentType { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The text for gRPC (<c>grpc-message</c>) and for exceptions: the body, else a default naming the resource.</summary>
    public string Message { get; }

    public InboundResponse Http { get; }

    public InboundResponse Grpc { get; }

    public InboundResponse For(bool grpc) => grpc ? Grpc : Http;

    public HttpResponseMessage CreateOutbound(HttpRequestMessage request, bool grpc)
    {
        if (grpc)
        {
            return SyntheticResponses.GrpcTrailersOnly(request, ResourceExhausted, Message);
        }

        var response = SyntheticResponses.Http(request, StatusCode, Body, Headers);
        if (ContentType is not null && MediaTypeHeaderValue.TryParse(ContentType, out var type))
        {
            response.Content.Headers.ContentType = type;
        }

        return response;
    }
}
