using System.Diagnostics;
using System.Runtime.CompilerServices;
using Governor.Interception;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// The inbound route stage (<see cref="IInboundRouteHandler"/>) for one web host: runs the route
/// handlers after the app's endpoint routing matched an endpoint and before the endpoint executes.
/// <para>
/// Hook: the routing middleware writes the DiagnosticListener event
/// <c>Microsoft.AspNetCore.Routing.EndpointMatched</c> (payload: the HttpContext) on the request's
/// own thread, right after matching and before the rest of the app's pipeline, on every supported
/// version (net8.0 to net10.0); the middleware registered the request's call in
/// <see cref="RouteCallTable"/>, where the event's handler finds it. The host's <see cref="DiagnosticListener"/> (the one routing gets
/// from DI) is subscribed only while a route handler is subscribed to the inbound pipeline:
/// otherwise <c>IsEnabled()</c> stays false and routing, hosting and MVC skip their diagnostic
/// checks exactly as without Governor.
/// </para>
/// <para>
/// Answer: the matched endpoint is replaced (<c>HttpContext.SetEndpoint</c>) by one whose
/// delegate writes the handler's <see cref="InboundResponse"/>; the app's endpoint middleware then
/// runs it instead of the app's endpoint. It has no metadata, so authorization, CORS or antiforgery
/// middleware between routing and the endpoints does no work for it (a throttled request is
/// answered as cheaply as possible, as it is in the first stage). One answer endpoint is made per
/// response object and reused (handlers reuse their immutable responses), so answering allocates
/// nothing. A handler that must wait (a pending result) gets a copy of the matched endpoint,
/// with the same route pattern and metadata (so every middleware treats the request as before)
/// whose delegate awaits the decision, then answers or runs the app's endpoint.
/// </para>
/// </summary>
internal sealed class RouteStage : IObserver<KeyValuePair<string, object?>>
{
    internal const string EndpointMatchedEvent = "Microsoft.AspNetCore.Routing.EndpointMatched";

    private static readonly Predicate<string> s_isEnabled = IsEndpointMatched;

    private readonly object _gate = new();
    private readonly InboundRuntime _runtime;
    private readonly DiagnosticListener _listener;
    private readonly ConditionalWeakTable<InboundResponse, Endpoint> _answers = new();
    private readonly ConditionalWeakTable<InboundResponse, Endpoint>.CreateValueCallback _createAnswer;
    private IDisposable? _subscription;

    public RouteStage(InboundRuntime runtime, DiagnosticListener listener)
    {
        _runtime = runtime;
        _listener = listener;
        _createAnswer = CreateAnswerEndpoint;
    }

    /// <summary>True while the host's DiagnosticListener is subscribed.</summary>
    public bool Enabled => Volatile.Read(ref _subscription) is not null;

    /// <summary>Subscribes to or unsubscribes from the host's DiagnosticListener; called off the request path.</summary>
    public void Enable(bool on)
    {
        lock (_gate)
        {
            if (on && _subscription is null)
            {
                _subscription = _listener.Subscribe(this, s_isEnabled);
            }
            else if (!on && _subscription is not null)
            {
                _subscription.Dispose();
                _subscription = null;
            }
        }
    }

    public void OnNext(KeyValuePair<string, object?> value)
    {
        // Runs inside the app's routing middleware: nothing may escape from here.
        if (value.Value is HttpContext context && IsEndpointMatched(value.Key))
        {
            try
            {
                Run(context);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "route stage", this);
            }
        }
    }

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    /// <summary>Runs the route handlers of the request's call, if the middleware registered one for this request.</summary>
    internal void Run(HttpContext context)
    {
        var call = FindCall(context);
        if (call is null || call.RouteStageRan || context.GetEndpoint() is not { } endpoint)
        {
            // No call: the request started before a route handler subscribed (or the plugin is
            // stopped). Already ran: an error page re-executed through routing.
            return;
        }

        call.RouteStageRan = true;
        call.MatchedEndpoint = endpoint;
        var handlers = call.Handlers;
        for (int i = 0; i < call.Ran; i++)
        {
            if (handlers[i] is not IInboundRouteHandler handler)
            {
                continue;
            }

            call.HandlerIndex = i;
            ValueTask<InboundResponse?> pending;
            try
            {
                pending = handler.OnRouteMatchedAsync(call);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "route handler", handler);
                continue;
            }

            if (pending.IsCompletedSuccessfully)
            {
                if (pending.Result is { } answer)
                {
                    context.SetEndpoint(_answers.GetValue(answer, _createAnswer));
                    return;
                }

                continue;
            }

            // A wait (or a synchronous fault, reported when awaited): the endpoint waits for it.
            // The task is also awaited before completion, so a handler never finishes its
            // decision after the call went back to the pool, even if the endpoint never runs.
            var wait = pending.AsTask();
            call.RouteWait = wait;
            context.SetEndpoint(Deferred(endpoint, call, wait, i));
            return;
        }
    }

    /// <summary>The call the middleware registered for this request (see <see cref="RouteCallTable"/>), or null.</summary>
    private static HttpInboundCall? FindCall(HttpContext context) => RouteCallTable.Find(context) ?? context.Features.Get<HttpInboundCall>();

    private static bool IsEndpointMatched(string name) => ReferenceEquals(name, EndpointMatchedEvent) || string.Equals(name, EndpointMatchedEvent, StringComparison.Ordinal);

    private Endpoint CreateAnswerEndpoint(InboundResponse answer) =>
        new(context => WriteAnswer(context, answer), EndpointMetadataCollection.Empty, $"Governor inbound answer ({answer.StatusCode}{(answer.GrpcStatus is int grpc ? $", grpc-status {grpc}" : string.Empty)})");

    private Endpoint Deferred(Endpoint original, HttpInboundCall call, Task<InboundResponse?> wait, int index)
    {
        RequestDelegate run = context => ContinueAsync(context, call, original, wait, index);
        return original is RouteEndpoint route
            ? new RouteEndpoint(run, route.RoutePattern, route.Order, route.Metadata, route.DisplayName)
            : new Endpoint(run, original.Metadata, original.DisplayName);
    }

    private async Task ContinueAsync(HttpContext context, HttpInboundCall call, Endpoint original, Task<InboundResponse?> wait, int index)
    {
        var handlers = call.Handlers;
        InboundResponse? answer = null;
        try
        {
            answer = await wait.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _runtime.ReportFailure(ex, "route handler", handlers[index]);
        }

        for (int i = index + 1; answer is null && i < call.Ran; i++)
        {
            if (handlers[i] is not IInboundRouteHandler handler)
            {
                continue;
            }

            call.HandlerIndex = i;
            try
            {
                answer = await handler.OnRouteMatchedAsync(call).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "route handler", handler);
            }
        }

        if (answer is not null)
        {
            await WriteAnswer(context, answer).ConfigureAwait(false);
            return;
        }

        // The app's own endpoint, seen as the current endpoint by its code (filters read it).
        context.SetEndpoint(original);
        if (original.RequestDelegate is { } app)
        {
            await app(context).ConfigureAwait(false);
        }
    }

    private Task WriteAnswer(HttpContext context, InboundResponse answer)
    {
        if (FindCall(context) is { } call)
        {
            call.RouteAnswer = answer;
        }

        Task write;
        try
        {
            write = InboundAnswer.WriteAsync(context.Response, answer);
        }
        catch (Exception ex)
        {
            _runtime.ReportFailure(ex, "route answer", this);
            return Task.CompletedTask;
        }

        return write.IsCompletedSuccessfully ? Task.CompletedTask : AwaitWrite(write);
    }

    private async Task AwaitWrite(Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The client went away while the answer was written: nothing for the app to handle.
            _runtime.ReportFailure(ex, "route answer", this);
        }
    }
}
