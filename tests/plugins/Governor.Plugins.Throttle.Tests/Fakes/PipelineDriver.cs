using Governor.Interception;

namespace Governor.Plugins.Throttle.Tests.Fakes;

/// <summary>
/// Drives the real <see cref="HandlerPipeline{THandler}"/> the way the contract says a provider
/// does: handlers in order with <see cref="InterceptedCall.HandlerIndex"/> set, stop at the first
/// answer, then completion in reverse order for every handler whose request callback ran —
/// also when a handler answered or the app threw. A call with a <see cref="FakeInboundCall.MatchedRoute"/>
/// goes through the route stage (<see cref="IInboundRouteHandler"/>) after the first stage, as
/// the ASP.NET Core provider runs it once routing matched. Awaits do not capture the test's
/// synchronization context, so a delay that fires inside a manual clock's Advance completes
/// the call right there.
/// </summary>
internal static class PipelineDriver
{
    public static async Task<InboundResponse?> RunAsync(HandlerPipeline<IInboundHandler> pipeline, InboundCall call, Func<Task>? app = null)
    {
        var handlers = pipeline.Handlers;
        int ran = 0;
        InboundResponse? answer = null;
        Exception? appError = null;
        try
        {
            while (ran < handlers.Length)
            {
                call.HandlerIndex = ran;
                var response = await handlers[ran].OnRequestAsync(call).ConfigureAwait(false);
                ran++;
                if (response is not null)
                {
                    answer = response;
                    break;
                }
            }

            if (answer is null && call is FakeInboundCall { MatchedRoute: not null } routed)
            {
                // Routing matched an endpoint: the route stage, for the handlers that have one, in order.
                routed.RouteMatched = true;
                for (int i = 0; i < ran && answer is null; i++)
                {
                    if (handlers[i] is IInboundRouteHandler routeHandler)
                    {
                        call.HandlerIndex = i;
                        answer = await routeHandler.OnRouteMatchedAsync(call).ConfigureAwait(false);
                    }
                }
            }

            if (answer is null && app is not null)
            {
                try
                {
                    await app().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    appError = ex;
                }
            }
        }
        finally
        {
            var outcome = new InboundOutcome(answer?.StatusCode ?? (appError is null ? 200 : 500), answer?.GrpcStatus ?? -1, appError, 0, answer is not null);
            for (int i = ran - 1; i >= 0; i--)
            {
                call.HandlerIndex = i;
                handlers[i].OnCompleted(call, in outcome);
            }
        }

        return answer;
    }

    /// <summary>The synchronous path: the request callbacks must complete synchronously.</summary>
    public static InboundResponse? Run(HandlerPipeline<IInboundHandler> pipeline, InboundCall call)
    {
        var task = RunAsync(pipeline, call);
        if (!task.IsCompleted)
        {
            throw new InvalidOperationException("A handler went asynchronous on a path that must stay synchronous.");
        }

        return task.GetAwaiter().GetResult();
    }

    /// <summary>One outbound attempt: answered by a handler, or "sent" (the network answers 200).</summary>
    public static async Task<HttpResponseMessage> SendAsync(HandlerPipeline<IOutboundHandler> pipeline, OutboundCall call, Func<Task>? network = null, CancellationToken cancellationToken = default)
    {
        var handlers = pipeline.Handlers;
        int ran = 0;
        HttpResponseMessage? answer = null;
        bool answered = false;
        try
        {
            while (ran < handlers.Length)
            {
                call.HandlerIndex = ran;
                var response = await handlers[ran].OnRequestAsync(call, cancellationToken).ConfigureAwait(false);
                ran++;
                if (response is not null)
                {
                    answer = response;
                    answered = true;
                    break;
                }
            }

            if (answer is null)
            {
                if (network is not null)
                {
                    await network().ConfigureAwait(false);
                }

                answer = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { RequestMessage = call.Request };
            }

            return answer;
        }
        finally
        {
            var outcome = new OutboundOutcome(answer, null, 0, answered);
            for (int i = ran - 1; i >= 0; i--)
            {
                call.HandlerIndex = i;
                handlers[i].OnCompleted(call, in outcome);
            }
        }
    }
}
