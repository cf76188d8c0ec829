using System.Net.Http;
using Governor.Interception;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The caller's side of lossless offline, on the <c>outbound</c> pipeline: a request that meets an
/// instance going away is sent once more, transparently, when it is safe to send again
/// (<see cref="OutboundCall.CanRetry"/>: GET, HEAD, PUT, DELETE, OPTIONS, TRACE, a gRPC call marked
/// idempotent; never a POST or PATCH). "Going away" is: the connection was refused (nothing listens:
/// the instance stopped accepting), the connection was lost or reset before any response (it
/// closed while the request was on its way), or the instance answered 503 with the lossless notice
/// header. Timeouts, name resolution and TLS failures are not retried here.
/// One retry only (<see cref="OutboundCall.Attempt"/> 0), so a dead service is not hammered.
/// A response carrying the notice on success is only counted: the request was served, and the
/// <c>Connection: close</c> that came with it already moves the next request to a new connection.
/// </summary>
internal sealed class CallerRetryHandler : IOutboundHandler
{
    private readonly LosslessState _state;
    private readonly IGovernorLogger _log;
    private readonly LogRateLimiter _logLimit = new(TimeSpan.FromSeconds(10));

    public CallerRetryHandler(LosslessState state, IGovernorLogger log)
    {
        _state = state;
        _log = log;
    }

    public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken) => default;

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome)
    {
        string? reason = GoingAway(outcome);
        if (reason is null)
        {
            return OutboundDecision.None;
        }

        if (call.Attempt > 0)
        {
            // Already retried once: the error goes to the app as it is.
            return OutboundDecision.None;
        }

        if (!call.CanRetry)
        {
            Interlocked.Increment(ref _state.CallerNotRetried);
            Log(call, reason, retried: false);
            return OutboundDecision.None;
        }

        Interlocked.Increment(ref _state.CallerRetries);
        Log(call, reason, retried: true);
        return OutboundDecision.Retry;
    }

    /// <summary>Why the outcome says the instance is going away, or null.</summary>
    internal string? GoingAway(in OutboundOutcome outcome)
    {
        if (outcome.AnsweredByHandler)
        {
            return null;
        }

        if (outcome.Response is { } response)
        {
            // NonValidated: a struct view, no allocation when the header is absent (the common case).
            if (!response.Headers.NonValidated.Contains(InboundGuard.NoticeHeader))
            {
                return null;
            }

            Interlocked.Increment(ref _state.CallerNotices);
            return (int)response.StatusCode == 503 ? "503 with the shutting-down notice" : null;
        }

        if (outcome.IsConnectionRefused)
        {
            return "connection refused";
        }

        for (var e = outcome.Exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded }:
                    return "connection closed before the response";
                case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }:
                    return "connection failed";
                // A connection the instance (or the load balancer in front of it) reset while the
                // request was on its way: what a stopped listener looks like through a proxy.
                case System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.ConnectionAborted or System.Net.Sockets.SocketError.Shutdown or System.Net.Sockets.SocketError.NotConnected }:
                    return "connection reset before the response";
            }
        }

        return null;
    }

    private void Log(OutboundCall call, string reason, bool retried)
    {
        if (!_logLimit.TryAcquire(out long suppressed))
        {
            return;
        }

        var request = call.Request;
        if (retried)
        {
            _log.Info("Retrying {Method} {Uri} once: {Reason} (the instance is going away). {Suppressed} similar event(s) not logged since the last one", request.Method.Method, request.RequestUri, reason, suppressed);
        }
        else
        {
            _log.Info("Not retrying {Method} {Uri} after {Reason}: the request is not idempotent. {Suppressed} similar event(s) not logged since the last one", request.Method.Method, request.RequestUri, reason, suppressed);
        }
    }
}
