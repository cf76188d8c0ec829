using System.Net;
using System.Net.Sockets;
using Governor.Interception;

namespace Governor.Plugins.Gray.Tests.Fakes;

/// <summary>
/// Plays the outbound interception provider over the real <see cref="HandlerPipeline{THandler}"/>:
/// request callbacks in order, the "network", completion callbacks in reverse order, and a retry
/// when a handler asks and the call can be sent again — as the httpclient plugin does.
/// </summary>
internal sealed class OutboundDriver
{
    private readonly HandlerPipeline<IOutboundHandler> _pipeline;

    public OutboundDriver(HandlerPipeline<IOutboundHandler> pipeline) => _pipeline = pipeline;

    /// <summary>Authorities ("127.0.0.1:6102") where nothing listens: sending there is refused.</summary>
    public HashSet<string> Down { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Authorities that cannot be connected to at all (no route, connect timeout).</summary>
    public HashSet<string> Unreachable { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every request as it went on the wire: the URI and the headers.</summary>
    public List<Sent> Wire { get; } = new();

    public Result Send(HttpRequestMessage request, RequestContext? context = null)
    {
        var call = new FakeOutboundCall(request, context);
        var handlers = _pipeline.Handlers;
        int attempts = 0;
        while (true)
        {
            attempts++;
            HttpResponseMessage? answer = null;
            int ran = 0;
            for (int i = 0; i < handlers.Length && answer is null; i++)
            {
                call.HandlerIndex = i;
                ran = i + 1;
                answer = handlers[i].OnRequestAsync(call, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }

            HttpResponseMessage? response = answer;
            Exception? error = null;
            if (answer is null)
            {
                var uri = request.RequestUri!;
                Wire.Add(new Sent(uri, request.Headers.Host, request.Headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase)));
                if (Down.Contains(uri.Authority))
                {
                    error = new HttpRequestException("Connection refused", new SocketException((int)SocketError.ConnectionRefused));
                }
                else if (Unreachable.Contains(uri.Authority))
                {
                    error = new HttpRequestException(HttpRequestError.ConnectionError, "No route to host", new SocketException((int)SocketError.HostUnreachable));
                }
                else
                {
                    response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(uri.Authority), RequestMessage = request };
                }
            }

            var outcome = new OutboundOutcome(response, error, 0, answer is not null);
            bool retry = false;
            for (int i = ran - 1; i >= 0; i--)
            {
                call.HandlerIndex = i;
                retry |= handlers[i].OnCompleted(call, in outcome) == OutboundDecision.Retry;
            }

            if (retry && call.CanRetry && attempts < OutboundCall.MaxAttempts)
            {
                response?.Dispose();
                call.NextAttempt();
                continue;
            }

            return new Result(response, error, attempts, request.RequestUri!);
        }
    }

    public Result Get(string url, string? label = null, Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        configure?.Invoke(request);
        return Send(request, label is null ? null : new RequestContext { TrafficLabel = label });
    }

    public sealed record Sent(Uri Uri, string? Host, Dictionary<string, string> Headers)
    {
        public string? Header(string name) => Headers.TryGetValue(name, out string? v) ? v : null;
    }

    public sealed record Result(HttpResponseMessage? Response, Exception? Error, int Attempts, Uri FinalUri)
    {
        /// <summary>The authority that answered, or null when the call failed.</summary>
        public string? AnsweredBy => Response?.Content.ReadAsStringAsync().GetAwaiter().GetResult();
    }
}
