using System.Runtime.CompilerServices;
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
/// handler asks and the request allows it. Allocation-free when the handlers and the send
/// complete synchronously (the pooled call object, a pooled async state machine, and the app
/// gets the framework's own task back); otherwise one wrapper task per call.
/// </summary>
internal static class OutboundRunner
{
    public static Task<HttpResponseMessage> SendAsync<TSender>(OutboundRuntime runtime, TSender sender, HttpRequestMessage request, CancellationToken cancellationToken, IOutboundHandler[] handlers)
        where TSender : IOutboundSender
    {
        HttpOutboundCall call;
        try
        {
            call = runtime.Calls.Rent();
            call.Begin(request, runtime.Pipeline.MeasuresDuration);
            runtime.CountIntercepted();
        }
        catch (Exception ex)
        {
            runtime.Failed(ex, "starting an outbound call");
            return sender.SendAsync(request, cancellationToken);
        }

        var run = RunAsync(runtime, call, sender, cancellationToken, handlers);
        return run.IsCompletedSuccessfully ? Finish(runtime, call) : AwaitRun(run, runtime, call);
    }

    public static HttpResponseMessage Send<TSender>(OutboundRuntime runtime, TSender sender, HttpRequestMessage request, CancellationToken cancellationToken, IOutboundHandler[] handlers)
        where TSender : IOutboundSender
    {
        HttpOutboundCall call;
        try
        {
            call = runtime.Calls.Rent();
            call.Begin(request, runtime.Pipeline.MeasuresDuration);
            runtime.CountIntercepted();
        }
        catch (Exception ex)
        {
            runtime.Failed(ex, "starting an outbound call");
            return sender.Send(request, cancellationToken);
        }

        while (true)
        {
            var (answer, ran) = RunRequestHandlers(runtime, call, handlers, cancellationToken);
            long sendStart = call.Now();
            HttpResponseMessage? response = null;
            Exception? error = null;
            if (answer is not null)
            {
                response = OutboundRuntime.Adopt(answer, call.Request);
                runtime.CountAnswered();
            }
            else
            {
                try
                {
                    response = sender.Send(call.Request, cancellationToken);
                }
                catch (Exception ex)
                {
                    error = ex;
                }
            }

            var outcome = new OutboundOutcome(response, error, call.Since(sendStart), answer is not null);
            if (runtime.Complete(call, handlers, ran, in outcome) && runtime.MayRetry(call, cancellationToken))
            {
                response?.Dispose();
                call.NextAttempt();
                continue;
            }

            call.Reset();
            runtime.Calls.Return(call);
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
    /// </summary>
    public static (HttpResponseMessage? Answer, int Ran) RunRequestHandlers(OutboundRuntime runtime, HttpOutboundCall call, IOutboundHandler[] handlers, CancellationToken cancellationToken)
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
                    return (answer, i + 1);
                }
            }
            catch (Exception ex)
            {
                runtime.HandlerFailed(ex, handlers[i], nameof(IOutboundHandler.OnRequestAsync));
            }
        }

        return (null, handlers.Length);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask RunAsync<TSender>(OutboundRuntime runtime, HttpOutboundCall call, TSender sender, CancellationToken cancellationToken, IOutboundHandler[] handlers)
        where TSender : IOutboundSender
    {
        while (true)
        {
            int ran = 0;
            HttpResponseMessage? answer = null;
            for (int i = 0; i < handlers.Length && answer is null; i++)
            {
                ran = i + 1;
                call.HandlerIndex = i;
                try
                {
                    var pending = handlers[i].OnRequestAsync(call, cancellationToken);
                    answer = pending.IsCompletedSuccessfully ? pending.Result : await pending.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    runtime.HandlerFailed(ex, handlers[i], nameof(IOutboundHandler.OnRequestAsync));
                }
            }

            long sendStart = call.Now();
            Task<HttpResponseMessage>? task = null;
            HttpResponseMessage? response = null;
            Exception? error = null;
            if (answer is not null)
            {
                response = OutboundRuntime.Adopt(answer, call.Request);
                runtime.CountAnswered();
            }
            else
            {
                try
                {
                    task = sender.SendAsync(call.Request, cancellationToken);
                }
                catch (Exception ex)
                {
                    // The framework threw instead of returning a faulted task: the app gets the same.
                    error = ex;
                    call.SyncError = ex;
                }

                if (task is not null)
                {
                    if (!task.IsCompleted)
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

                    (response, error) = OutboundRuntime.Outcome(task);
                }
            }

            var outcome = new OutboundOutcome(response, error, call.Since(sendStart), answer is not null);
            if (runtime.Complete(call, handlers, ran, in outcome) && call.SyncError is null && runtime.MayRetry(call, cancellationToken))
            {
                // The discarded response gives its connection back before the request goes again.
                response?.Dispose();
                call.NextAttempt();
                continue;
            }

            call.ResultTask = task;
            call.Answer = answer;
            return;
        }
    }

    private static async Task<HttpResponseMessage> AwaitRun(ValueTask run, OutboundRuntime runtime, HttpOutboundCall call)
    {
        await run.ConfigureAwait(false);
        return await Finish(runtime, call).ConfigureAwait(false);
    }

    /// <summary>What the app gets: the framework's task of the last send, the handler's answer, or the synchronous exception.</summary>
    private static Task<HttpResponseMessage> Finish(OutboundRuntime runtime, HttpOutboundCall call)
    {
        var task = call.ResultTask;
        var answer = call.Answer;
        var error = call.SyncError;
        call.Reset();
        runtime.Calls.Return(call);
        if (task is not null)
        {
            return task;
        }

        if (answer is not null)
        {
            return Task.FromResult(answer);
        }

        ExceptionDispatchInfo.Throw(error!);
        return null!;
    }
}
