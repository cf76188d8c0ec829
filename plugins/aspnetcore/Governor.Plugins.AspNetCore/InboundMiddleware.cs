using System.Runtime.ExceptionServices;
using Governor.Interception;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// The outermost middleware of every web host: runs the inbound handlers in order, lets one of
/// them answer instead of the app, publishes the request context for the app's code, and reports
/// the outcome to every handler that ran, in reverse order.
/// Cost model: with no handler subscribed it is one volatile read and a call; with handlers that
/// complete synchronously there is no async state machine and no allocation (pooled call object,
/// struct outcome). Fail-open: an exception in Governor code is logged (rate-limited) and the
/// request goes on; exceptions of the app are observed and rethrown, never swallowed.
/// </summary>
internal sealed class InboundMiddleware
{
    private readonly RequestDelegate _next;
    private readonly InboundRuntime _runtime;
    private readonly HandlerPipeline<IInboundHandler> _pipeline;
    private readonly CallPool _pool;
    private readonly TimeProvider _time;
    private readonly StartupGate _startup;

    public InboundMiddleware(RequestDelegate next, InboundRuntime runtime)
    {
        _next = next;
        _runtime = runtime;
        _pipeline = runtime.Pipeline;
        _pool = runtime.Calls;
        _time = runtime.Time;
        _startup = runtime.Startup;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!_startup.IsOpen)
        {
            return HoldUntilStarted(context);
        }

        var handlers = _pipeline.Handlers;
        if (handlers.Length == 0 || !_runtime.IsActive)
        {
            return _next(context);
        }

        return RunHandlers(context, handlers);
    }

    // Only while the agent still starts governance plugins (the first requests after the server
    // listens): they are what would label, limit or route this request.
    private async Task HoldUntilStarted(HttpContext context)
    {
        // A request that waited the whole hold timeout goes on; the gate reports it.
        await _startup.WaitAsync(context.RequestAborted).ConfigureAwait(false);

        var handlers = _pipeline.Handlers;
        await (handlers.Length == 0 || !_runtime.IsActive ? _next(context) : RunHandlers(context, handlers)).ConfigureAwait(false);
    }

    private Task RunHandlers(HttpContext context, IInboundHandler[] handlers)
    {
        var call = _pool.Rent();
        // 0 = not measured: no subscriber reads durations, so the clock is not read at all.
        call.Start(context, handlers, _pipeline.MeasuresDuration ? _time.GetTimestamp() : 0);
        for (int i = 0; i < handlers.Length; i++)
        {
            call.HandlerIndex = i;
            call.Ran = i + 1;
            ValueTask<InboundResponse?> pending;
            try
            {
                pending = handlers[i].OnRequestAsync(call);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "request handler", handlers[i]);
                continue;
            }

            if (!pending.IsCompletedSuccessfully)
            {
                return RunHandlersAsync(context, call, pending, i);
            }

            if (pending.Result is { } response)
            {
                return Answer(context, call, response);
            }
        }

        return RunApp(context, call);
    }

    // The slow path: a handler went async (e.g. it queues the request). Continues the same loop.
    private async Task RunHandlersAsync(HttpContext context, HttpInboundCall call, ValueTask<InboundResponse?> pending, int index)
    {
        var handlers = call.Handlers;
        for (int i = index; i < handlers.Length; i++)
        {
            if (i > index)
            {
                call.HandlerIndex = i;
                call.Ran = i + 1;
                try
                {
                    pending = handlers[i].OnRequestAsync(call);
                }
                catch (Exception ex)
                {
                    _runtime.ReportFailure(ex, "request handler", handlers[i]);
                    continue;
                }
            }

            InboundResponse? response = null;
            try
            {
                response = await pending.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "request handler", handlers[i]);
            }

            if (response is not null)
            {
                await Answer(context, call, response).ConfigureAwait(false);
                return;
            }
        }

        await RunApp(context, call).ConfigureAwait(false);
    }

    private Task RunApp(HttpContext context, HttpInboundCall call)
    {
        // Publish the context a handler created, for the app's code and everything it starts
        // (await, Task.Run, thread pool, timers capture the ExecutionContext). Set here, in a
        // synchronous frame, and restored right after _next returns, so the value never leaks into
        // the server's own flow (the next request on the same connection).
        if (_runtime.RouteStageOn)
        {
            // The route stage (RouteStage, fed by routing's EndpointMatched event) finds the call
            // in the table; only while a route handler is subscribed.
            int slot = RouteCallTable.Add(call, context);
            if (slot >= 0)
            {
                call.RouteSlot = slot;
            }
            else
            {
                context.Features.Set(call);
                call.RouteStageRegistered = true;
            }
        }

        var requestContext = call.ContextIfCreated;
        RequestContext? previous = null;
        if (requestContext is not null)
        {
            requestContext.InboundResource ??= call.Path;
            previous = RequestContext.Current;
            RequestContext.SetCurrent(requestContext);
        }

        Task task;
        try
        {
            task = _next(context);
        }
        catch (Exception ex)
        {
            if (requestContext is not null)
            {
                RequestContext.SetCurrent(previous);
            }

            if (call.RouteWait is { IsCompleted: false })
            {
                return CompleteAfterRouteWait(context, call, ExceptionDispatchInfo.Capture(ex));
            }

            Complete(context, call, ex, null);
            throw;
        }

        if (requestContext is not null)
        {
            RequestContext.SetCurrent(previous);
        }

        if (task.IsCompletedSuccessfully)
        {
            if (call.RouteWait is { IsCompleted: false })
            {
                return CompleteAfterRouteWait(context, call, null);
            }

            Complete(context, call, null, null);
            return Task.CompletedTask;
        }

        return AwaitApp(task, context, call);
    }

    private async Task AwaitApp(Task task, HttpContext context, HttpInboundCall call)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await AwaitRouteWait(call).ConfigureAwait(false);
            Complete(context, call, ex, null);
            throw;
        }

        await AwaitRouteWait(call).ConfigureAwait(false);
        Complete(context, call, null, null);
    }

    /// <summary>
    /// A route handler's pending decision must finish before completion: the handler may still
    /// take permits or write its state, and the call goes back to the pool after completion.
    /// It is normally already finished (the endpoint awaited it), unless the app's middleware
    /// answered or failed before the endpoint ran.
    /// </summary>
    private static async ValueTask AwaitRouteWait(HttpInboundCall call)
    {
        if (call.RouteWait is { IsCompleted: false } wait)
        {
            try
            {
                await wait.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Reported by the endpoint that awaits it; here only the completion order matters.
            }
        }
    }

    private async Task CompleteAfterRouteWait(HttpContext context, HttpInboundCall call, ExceptionDispatchInfo? thrown)
    {
        await AwaitRouteWait(call).ConfigureAwait(false);
        Complete(context, call, thrown?.SourceException, null);
        thrown?.Throw();
    }

    private Task Answer(HttpContext context, HttpInboundCall call, InboundResponse response)
    {
        Task write;
        try
        {
            write = InboundAnswer.WriteAsync(context.Response, response);
        }
        catch (Exception ex)
        {
            _runtime.ReportFailure(ex, "answer", call.Handlers[call.HandlerIndex]);
            write = Task.CompletedTask;
        }

        if (write.IsCompletedSuccessfully)
        {
            Complete(context, call, null, response);
            return Task.CompletedTask;
        }

        return AwaitAnswer(write, context, call, response);
    }

    private async Task AwaitAnswer(Task write, HttpContext context, HttpInboundCall call, InboundResponse response)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The client went away while the answer was written: not the app's exception, not worth a rethrow.
            _runtime.ReportFailure(ex, "answer", call.Handlers[call.HandlerIndex]);
        }

        Complete(context, call, null, response);
    }

    /// <summary>Builds the outcome and calls every handler that ran, last first; then returns the call to the pool.</summary>
    private void Complete(HttpContext context, HttpInboundCall call, Exception? thrown, InboundResponse? answer)
    {
        try
        {
            if (call.RouteSlot >= 0 || call.RouteStageRegistered)
            {
                if (call.RouteSlot >= 0)
                {
                    RouteCallTable.Remove(call.RouteSlot, call);
                }
                else
                {
                    context.Features.Set<HttpInboundCall>(null);
                }

                if (answer is null && thrown is null)
                {
                    // A route handler answered instead of the endpoint.
                    answer = call.RouteAnswer;
                }
            }

            long elapsed = call.StartTimestamp == 0 ? 0 : _time.GetTimestamp() - call.StartTimestamp;
            int status;
            int grpcStatus;
            Exception? exception = thrown;
            if (answer is not null)
            {
                call.Complete(null);
                status = answer.StatusCode;
                grpcStatus = answer.GrpcStatus ?? -1;
            }
            else
            {
                var response = context.Response;
                status = response.StatusCode;
                IExceptionHandlerFeature? handled = null;
                if (thrown is not null)
                {
                    // Thrown before the response started: the server answers 500 after we rethrow.
                    status = response.HasStarted ? status : StatusCodes.Status500InternalServerError;
                }
                else if (status >= StatusCodes.Status400BadRequest)
                {
                    // An exception the app's own handler (UseExceptionHandler) caught never reaches
                    // here; that middleware leaves it in IExceptionHandlerFeature and answers with an
                    // error status, so successful responses skip the lookup.
                    handled = context.Features.Get<IExceptionHandlerFeature>();
                    exception = handled?.Error;
                }

                call.Complete(handled);
                // gRPC runs over HTTP/2 (or 3): an HTTP/1.x request skips the content-type lookup.
                string protocol = context.Request.Protocol;
                grpcStatus = (HttpProtocol.IsHttp2(protocol) || HttpProtocol.IsHttp3(protocol)) && call.IsGrpc ? GrpcStatusOf(context) : -1;
            }

            var outcome = new InboundOutcome(status, grpcStatus, exception, elapsed, answer is not null);
            var handlers = call.Handlers;
            for (int i = call.Ran - 1; i >= 0; i--)
            {
                call.HandlerIndex = i;
                try
                {
                    handlers[i].OnCompleted(call, in outcome);
                }
                catch (Exception ex)
                {
                    _runtime.ReportFailure(ex, "completion handler", handlers[i]);
                }
            }
        }
        catch (Exception ex)
        {
            _runtime.ReportFailure(ex, "completion", null);
        }

        _pool.Return(call);
    }

    /// <summary>grpc-status from the response headers (trailers-only) or the trailers; -1 when absent.</summary>
    private static int GrpcStatusOf(HttpContext context)
    {
        if (TryParseStatus(context.Response.Headers, out int status))
        {
            return status;
        }

        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        return trailers is not null && TryParseStatus(trailers, out status) ? status : -1;
    }

    private static bool TryParseStatus(IHeaderDictionary headers, out int status)
    {
        status = -1;
        return headers.TryGetValue(GrpcText.StatusHeader, out var value) && value.Count > 0
            && int.TryParse(value[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out status);
    }
}
