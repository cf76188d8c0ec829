using System.Runtime.ExceptionServices;
using Governor.Interception;

namespace Governor.Plugins.HttpClient;

/// <summary>How the runner sends a request: the framework's original code (patch path) or a test double.</summary>
internal interface IOutboundSender
{
    Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken);

    HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken);
}

/// <summary>
/// The outbound pipeline of the patch path, for one send: handlers' request callbacks in order
/// (one may answer), the send, the completion callbacks in reverse order, and a retry when a
/// handler asks and the request allows it. Runs synchronously as long as the handlers' callbacks
/// and the send complete synchronously — allocation-free: the pooled call object, and the app
/// gets the framework's own task back — and continues in one async method from the first step
/// that is pending (a handler waiting, or the network: one task per call then).
/// </summary>
internal static class OutboundRunner
{
    public static Task<HttpResponseMessage> SendAsync<TSender>(OutboundRuntime runtime, TSender sender, HttpRequestMessage request, CancellationToken cancellationToken, IOutboundHandler[] handlers)
        where TSender : IOutboundSender
    {
        if (Start(runtime, request, handlers) is not { } call)
        {
            return sender.SendAsync(request, cancellationToken);
        }

        while (true)
        {
            // Request callbacks, synchronously while they complete synchronously.
            HttpResponseMessage? answer = null;
            int ran = 0;
            for (int i = 0; i < handlers.Length; i++)
            {
                ran = i + 1;
                call.HandlerIndex = i;
                ValueTask<HttpResponseMessage?> pending;
                try
                {
                    pending = handlers[i].OnRequestAsync(call, cancellationToken);
                }
                catch (Exception ex) when (ex is IGovernorRejection)
                {
                    // A deliberate rejection: the app's call fails with it.
                    Reject(runtime, call, handlers, i + 1, ex);
                    return Task.FromException<HttpResponseMessage>(ex);
                }
                catch (Exception ex)
                {
                    runtime.HandlerFailed(ex, handlers[i], nameof(IOutboundHandler.OnRequestAsync));
                    continue;
                }

                if (!pending.IsCompletedSuccessfully)
                {
                    // Pending, or faulted (a rejection or a failure): decided where it is awaited.
                    return ContinueAsync(runtime, call, sender, cancellationToken, handlers, pending, i, null);
                }

                answer = pending.Result;
                if (answer is not null)
                {
                    break;
                }
            }

            long sendStart = call.Now();
            Task<HttpResponseMessage>? task = null;
            if (answer is null)
            {
                try
                {
                    task = sender.SendAsync(call.Request, cancellationToken);
                }
                catch (Exception ex)
                {
                    // The framework threw instead of returning a faulted task: the app gets the same.
                    Completed(runtime, call, handlers, ran, null, ex, sendStart, answered: false, mayRetry: false, cancellationToken);
                    Return(runtime, call);
                    throw;
                }

                if (!task.IsCompleted)
                {
                    return ContinueAsync(runtime, call, sender, cancellationToken, handlers, default, ran, task, sendStart);
                }
            }

            if (Completed(runtime, call, handlers, ran, task, answer, sendStart, cancellationToken))
            {
                continue;
            }

            Return(runtime, call);
            return task ?? Task.FromResult(answer!);
        }
    }

    public static HttpResponseMessage Send<TSender>(OutboundRuntime runtime, TSender sender, HttpRequestMessage request, CancellationToken cancellationToken, IOutboundHandler[] handlers)
        where TSender : IOutboundSender
    {
        if (Start(runtime, request, handlers) is not { } call)
        {
            return sender.Send(request, cancellationToken);
        }

        while (true)
        {
            var (answer, ran, rejection) = RunRequestHandlers(runtime, call, handlers, cancellationToken);
            if (rejection is not null)
            {
                Reject(runtime, call, handlers, ran, rejection);
                ExceptionDispatchInfo.Throw(rejection);
            }

            long sendStart = call.Now();
            HttpResponseMessage? response = null;
            Exception? error = null;
            if (answer is not null)
            {
                runtime.CountAnswered();
                response = OutboundRuntime.Adopt(answer, call.Request);
            }
            else
            {
                try
                {
                    response = sender.Send(call.Request, cancellationToken);
                }
                catch (Exception ex)
                {
                    // The synchronous send reports failures by throwing: a failure a retry may follow.
                    error = ex;
                }
            }

            if (Completed(runtime, call, handlers, ran, response, error, sendStart, answer is not null, mayRetry: true, cancellationToken))
            {
                continue;
            }

            Return(runtime, call);
            if (error is not null)
            {
                ExceptionDispatchInfo.Throw(error);
            }

            return response!;
        }
    }

    /// <summary>
    /// Request callbacks for the synchronous paths (Send, the listener): a handler that goes
    /// asynchronous is waited for on this thread, as the app's own synchronous call would wait.
    /// Stops at the first answer, or at the first <see cref="IGovernorRejection"/> (returned, for
    /// the caller to complete the call and throw it).
    /// </summary>
    public static (HttpResponseMessage? Answer, int Ran, Exception? Rejection) RunRequestHandlers(OutboundRuntime runtime, HttpOutboundCall call, IOutboundHandler[] handlers, CancellationToken cancellationToken)
    {
        for (int i = 0; i < handlers.Length; i++)
        {
            call.HandlerIndex = i;
            try
            {
                var pending = handlers[i].OnRequestAsync(call, cancellationToken);
                var answer = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                if (answer is not null)
                {
                    return (answer, i + 1, null);
                }
            }
            catch (Exception ex) when (ex is IGovernorRejection)
            {
                return (null, i + 1, ex);
            }
            catch (Exception ex)
            {
                runtime.HandlerFailed(ex, handlers[i], nameof(IOutboundHandler.OnRequestAsync));
            }
        }

        return (null, handlers.Length, null);
    }

    /// <summary>
    /// A handler rejected the call on purpose (<see cref="IGovernorRejection"/>): it is not sent;
    /// the handlers that ran see the rejection as the outcome (no retry), and the call goes back
    /// to the pool. The caller then fails the app's call with <paramref name="rejection"/>.
    /// </summary>
    public static void Reject(OutboundRuntime runtime, HttpOutboundCall call, IOutboundHandler[] handlers, int ran, Exception rejection)
    {
        runtime.CountRejected();
        var outcome = new OutboundOutcome(null, rejection, 0, answeredByHandler: true);
        runtime.Complete(call, handlers, ran, in outcome);
        Return(runtime, call);
    }

    /// <summary>
    /// The rest of a call from its first pending step: a handler's pending request callback
    /// (<paramref name="pendingHandler"/>, index <paramref name="index"/>), or the network's
    /// pending send (<paramref name="sending"/>, after <paramref name="index"/> handlers ran).
    /// </summary>
    private static async Task<HttpResponseMessage> ContinueAsync<TSender>(OutboundRuntime runtime, HttpOutboundCall call, TSender sender, CancellationToken cancellationToken, IOutboundHandler[] handlers,
        ValueTask<HttpResponseMessage?> pendingHandler, int index, Task<HttpResponseMessage>? sending, long sendStart = 0)
        where TSender : IOutboundSender
    {
        bool resumeAtHandler = sending is null;
        while (true)
        {
            HttpResponseMessage? answer = null;
            int ran = 0;
            Task<HttpResponseMessage>? task = sending;
            sending = null;
            if (task is null)
            {
                int first = 0;
                if (resumeAtHandler)
                {
                    // Finish the handler that went asynchronous, then carry on with the next ones.
                    resumeAtHandler = false;
                    ran = index + 1;
                    first = index + 1;
                    try
                    {
                        answer = await pendingHandler.ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is IGovernorRejection)
                    {
                        Reject(runtime, call, handlers, index + 1, ex);
                        throw;
                    }
                    catch (Exception ex)
                    {
                        runtime.HandlerFailed(ex, handlers[index], nameof(IOutboundHandler.OnRequestAsync));
                    }
                }

                for (int i = first; i < handlers.Length && answer is null; i++)
                {
                    ran = i + 1;
                    call.HandlerIndex = i;
                    try
                    {
                        var pending = handlers[i].OnRequestAsync(call, cancellationToken);
                        answer = pending.IsCompletedSuccessfully ? pending.Result : await pending.ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is IGovernorRejection)
                    {
                        Reject(runtime, call, handlers, i + 1, ex);
                        throw;
                    }
                    catch (Exception ex)
                    {
                        runtime.HandlerFailed(ex, handlers[i], nameof(IOutboundHandler.OnRequestAsync));
                    }
                }

                sendStart = call.Now();
                if (answer is null)
                {
                    try
                    {
                        task = sender.SendAsync(call.Request, cancellationToken);
                    }
                    catch (Exception ex)
                    {
                        Completed(runtime, call, handlers, ran, null, ex, sendStart, answered: false, mayRetry: false, cancellationToken);
                        Return(runtime, call);
                        throw;
                    }
                }
            }
            else
            {
                ran = index;
            }

            if (task is not null && !task.IsCompleted)
            {
                try
                {
                    await task.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Read below from the task itself.
                }
            }

            if (Completed(runtime, call, handlers, ran, task, answer, sendStart, cancellationToken))
            {
                continue;
            }

            Return(runtime, call);
            return task is not null ? await task.ConfigureAwait(false) : answer!;
        }
    }

    /// <summary>
    /// One attempt ended with the completed <paramref name="task"/> or a handler's
    /// <paramref name="answer"/>: the completion callbacks run; true when the call goes again.
    /// </summary>
    private static bool Completed(OutboundRuntime runtime, HttpOutboundCall call, IOutboundHandler[] handlers, int ran, Task<HttpResponseMessage>? task, HttpResponseMessage? answer, long sendStart, CancellationToken cancellationToken)
    {
        if (answer is not null)
        {
            runtime.CountAnswered();
            return Completed(runtime, call, handlers, ran, OutboundRuntime.Adopt(answer, call.Request), null, sendStart, answered: true, mayRetry: true, cancellationToken);
        }

        var (response, error) = OutboundRuntime.Outcome(task!);
        return Completed(runtime, call, handlers, ran, response, error, sendStart, answered: false, mayRetry: true, cancellationToken);
    }

    private static bool Completed(OutboundRuntime runtime, HttpOutboundCall call, IOutboundHandler[] handlers, int ran, HttpResponseMessage? response, Exception? error, long sendStart, bool answered, bool mayRetry, CancellationToken cancellationToken)
    {
        var outcome = new OutboundOutcome(response, error, call.Since(sendStart), answered);
        if (!runtime.Complete(call, handlers, ran, in outcome) || !mayRetry || !runtime.MayRetry(call, cancellationToken))
        {
            return false;
        }

        // The discarded response gives its connection back before the request goes again.
        response?.Dispose();
        call.NextAttempt();
        return true;
    }

    /// <summary>A pooled call for <paramref name="request"/>, or null (logged) when Governor failed: the send then goes on untouched.</summary>
    private static HttpOutboundCall? Start(OutboundRuntime runtime, HttpRequestMessage request, IOutboundHandler[] handlers)
    {
        try
        {
            var call = runtime.Calls.Rent();
            call.Begin(request, runtime.Pipeline.MeasuresDuration, handlers);
            return call;
        }
        catch (Exception ex)
        {
            runtime.Failed(ex, "starting an outbound call");
            return null;
        }
    }

    private static void Return(OutboundRuntime runtime, HttpOutboundCall call)
    {
        call.Reset();
        runtime.Calls.Return(call);
    }
}
