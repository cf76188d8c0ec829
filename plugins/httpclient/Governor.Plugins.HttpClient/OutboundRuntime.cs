using System.Net;
using Governor.Interception;
using Governor.Status;

namespace Governor.Plugins.HttpClient;

/// <summary>
/// What the interception paths share: the pipeline, the call pool, counters and the fail-open
/// log. The detour replacements are static methods (the patch engine calls them in place of the
/// framework's code), so they reach the running plugin through <see cref="Current"/>; null while
/// the plugin is stopped, and then everything passes straight through.
/// </summary>
internal sealed class OutboundRuntime : IStatusProvider
{
    private static OutboundRuntime? s_current;

    private readonly LogRateLimiter _failures = new(TimeSpan.FromSeconds(10));
    private readonly IGovernorLogger _log;
    private CallPool<HttpOutboundCall>? _calls;
    private long _answered;
    private long _retries;
    private long _retriesRefused;
    private long _handlerFailures;
    private long _blockedByThrow;
    private long _rejected;

    public OutboundRuntime(HandlerPipeline<IOutboundHandler> pipeline, IGovernorLogger log)
    {
        Pipeline = pipeline;
        _log = log;
    }

    public static OutboundRuntime? Current => Volatile.Read(ref s_current);

    public HandlerPipeline<IOutboundHandler> Pipeline { get; }

    /// <summary>
    /// Created at the first call, not with the runtime: its call type's layout loads
    /// System.Net.Http, which the plugin leaves unloaded in apps that never send HTTP.
    /// </summary>
    public CallPool<HttpOutboundCall> Calls => Volatile.Read(ref _calls) ?? CreateCalls();

    /// <summary>Closed while governance plugins still start alongside the app (calls wait for it); null: never held.</summary>
    public StartupGate? Startup { get; set; }

    /// <summary>Which path intercepts ("patch" or "listener"), for the status counters.</summary>
    public string Mechanism { get; set; } = "none";

    public long Retries => Interlocked.Read(ref _retries);

    public long HandlerFailures => Interlocked.Read(ref _handlerFailures);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private CallPool<HttpOutboundCall> CreateCalls()
    {
        Interlocked.CompareExchange(ref _calls, new CallPool<HttpOutboundCall>(Math.Max(16, Environment.ProcessorCount * 8)), null);
        return _calls;
    }

    public static void Activate(OutboundRuntime? runtime) => Volatile.Write(ref s_current, runtime);

    public void CountAnswered() => Interlocked.Increment(ref _answered);

    public void CountBlockedByThrow() => Interlocked.Increment(ref _blockedByThrow);

    /// <summary>Calls a handler failed on purpose with an <see cref="IGovernorRejection"/> exception.</summary>
    public void CountRejected() => Interlocked.Increment(ref _rejected);

    public void CountRetryRefused() => Interlocked.Increment(ref _retriesRefused);

    /// <summary>
    /// Runs <see cref="IOutboundHandler.OnCompleted"/> of the handlers that saw the request, last
    /// first. True when one of them asked for a retry.
    /// </summary>
    public bool Complete(HttpOutboundCall call, IOutboundHandler[] handlers, int ran, in OutboundOutcome outcome)
    {
        bool retry = false;
        for (int i = ran - 1; i >= 0; i--)
        {
            call.HandlerIndex = i;
            try
            {
                retry |= handlers[i].OnCompleted(call, in outcome) == OutboundDecision.Retry;
            }
            catch (Exception ex)
            {
                HandlerFailed(ex, handlers[i], nameof(IOutboundHandler.OnCompleted));
            }
        }

        return retry;
    }

    /// <summary>
    /// Whether a retry a handler asked for may happen: the request can be sent again, attempts
    /// are left, and the app has not given up on the call.
    /// </summary>
    public bool MayRetry(HttpOutboundCall call, CancellationToken cancellationToken)
    {
        bool allowed;
        try
        {
            allowed = call.CanRetry && call.Attempt + 1 < OutboundCall.MaxAttempts && !cancellationToken.IsCancellationRequested;
        }
        catch (Exception ex)
        {
            Failed(ex, "deciding on a retry");
            allowed = false;
        }

        Interlocked.Increment(ref allowed ? ref _retries : ref _retriesRefused);
        return allowed;
    }

    /// <summary>Ties a handler's answer to the request, as the network's response would be.</summary>
    public static HttpResponseMessage Adopt(HttpResponseMessage answer, HttpRequestMessage request)
    {
        answer.RequestMessage ??= request;
        return answer;
    }

    /// <summary>The response or the exception of a completed send.</summary>
    public static (HttpResponseMessage? Response, Exception? Error) Outcome(Task<HttpResponseMessage> task)
    {
        if (task.IsCompletedSuccessfully)
        {
            return (task.Result, null);
        }

        try
        {
            // Faulted: the original exception object; canceled: the TaskCanceledException the app sees.
            return (task.GetAwaiter().GetResult(), null);
        }
        catch (Exception ex)
        {
            return (null, ex);
        }
    }

    /// <summary>A handler threw: logged (at most once per 10 s), counted, and the call goes on.</summary>
    public void HandlerFailed(Exception exception, IOutboundHandler handler, string callback)
    {
        Interlocked.Increment(ref _handlerFailures);
        if (_failures.TryAcquire(out long suppressed))
        {
            _log.Error(exception, "Outbound handler {Handler} threw in {Callback}; the call goes on (fail-open). {Suppressed} similar failure(s) not logged since the last one", handler.GetType().FullName, callback, suppressed);
        }
    }

    /// <summary>Governor's own code failed: logged like a handler failure; the app's call goes on.</summary>
    public void Failed(Exception exception, string what)
    {
        Interlocked.Increment(ref _handlerFailures);
        if (_failures.TryAcquire(out long suppressed))
        {
            _log.Error(exception, "Outbound interception failed while {What}; the call goes on (fail-open). {Suppressed} similar failure(s) not logged since the last one", what, suppressed);
        }
    }

    /// <summary>The exception the listener path throws to block a call a handler answered.</summary>
    public static HttpRequestException Blocked(HttpResponseMessage answer, bool grpc)
    {
        string? grpcStatus = null;
        if (grpc && answer.Headers.NonValidated.TryGetValues("grpc-status", out var values))
        {
            foreach (string value in values)
            {
                grpcStatus = value;
            }
        }

        string message = grpcStatus is null
            ? $"Governor blocked this call: a handler answered {(int)answer.StatusCode} {answer.ReasonPhrase}, which cannot be returned without the SocketsHttpHandler patch"
            : $"Governor blocked this gRPC call: a handler answered grpc-status {grpcStatus}, which cannot be returned without the SocketsHttpHandler patch";
        return new HttpRequestException(message, null, answer.StatusCode == HttpStatusCode.OK ? null : answer.StatusCode);
    }

    public void Collect(StatusCollector collector)
    {
        collector.State("outbound", Mechanism);
        collector.Counter("outbound", "answered", Interlocked.Read(ref _answered));
        collector.Counter("outbound", "retries", Interlocked.Read(ref _retries));
        collector.Counter("outbound", "retriesRefused", Interlocked.Read(ref _retriesRefused));
        collector.Counter("outbound", "blockedByThrow", Interlocked.Read(ref _blockedByThrow));
        collector.Counter("outbound", "rejected", Interlocked.Read(ref _rejected));
        collector.Counter("outbound", "handlerFailures", Interlocked.Read(ref _handlerFailures));
    }
}
