using Governor.Interception;
using Governor.Plugins.Throttle.Compilation;

namespace Governor.Plugins.Throttle;

/// <summary>
/// Throttles inbound requests (HTTP and gRPC) by path, <c>METHOD:/path</c> and gRPC method: the
/// names known before routing, so it decides in the first stage, before the app's middleware.
/// Route template names are <see cref="RouteThrottleHandler"/>'s.
/// </summary>
internal sealed class InboundThrottleHandler : IInboundHandler
{
    private readonly ThrottleEngine _engine;

    public InboundThrottleHandler(ThrottleEngine engine)
    {
        _engine = engine;
    }

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
    {
        try
        {
            var rules = _engine.Rules;
            if (!rules.HasPaths)
            {
                return default;
            }

            var match = rules.MatchPath(call);
            return match.Count == 0 ? default : InboundAdmission.Admit(_engine, call, in match);
        }
        catch (Exception ex)
        {
            _engine.ReportFault(ex);
            return default;
        }
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome) => InboundAdmission.Complete(_engine, call);
}

/// <summary>
/// Throttles inbound requests by route template (<c>/orders/{id}</c>, <c>DELETE:/orders/{id}</c>)
/// in the provider's route stage (<see cref="IInboundRouteHandler"/>): after the app's routing
/// matched an endpoint, before the endpoint runs. Subscribed only while route names are
/// configured, so an app without them never pays for the route stage. Its first stage does
/// nothing: the provider runs it before routing, and asking for the template there would cost
/// every request a lookup that finds nothing.
/// </summary>
internal sealed class RouteThrottleHandler : IInboundHandler, IInboundRouteHandler
{
    private readonly ThrottleEngine _engine;

    public RouteThrottleHandler(ThrottleEngine engine)
    {
        _engine = engine;
    }

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => default;

    public ValueTask<InboundResponse?> OnRouteMatchedAsync(InboundCall call)
    {
        try
        {
            var rules = _engine.Rules;
            if (!rules.HasRoutes || call.RouteTemplate is not { } template)
            {
                return default;
            }

            var match = rules.MatchRoute(call, template);
            return match.Count == 0 ? default : InboundAdmission.Admit(_engine, call, in match);
        }
        catch (Exception ex)
        {
            _engine.ReportFault(ex);
            return default;
        }
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome) => InboundAdmission.Complete(_engine, call);
}

/// <summary>The admission steps of an inbound request, shared by both stages.</summary>
internal static class InboundAdmission
{
    /// <summary>
    /// Rate limits and queue slots, a wait when queued, then concurrency permits. The call's
    /// state then holds the permits to give back on completion.
    /// </summary>
    public static ValueTask<InboundResponse?> Admit(ThrottleEngine engine, InboundCall call, in Match match)
    {
        var rejected = Admission.Check(in match, engine.Clock, out var ticket);
        if (rejected is not null)
        {
            return new ValueTask<InboundResponse?>(rejected.Rejection.For(call.IsGrpc));
        }

        if (ticket.WaitTicks > 0)
        {
            return new ValueTask<InboundResponse?>(EnterAfterAsync(engine, call, match, ticket));
        }

        return Enter(call, in match, in ticket);
    }

    /// <summary>Gives back the permits the call holds; runs also when a later handler answered or the app threw.</summary>
    public static void Complete(ThrottleEngine engine, InboundCall call)
    {
        try
        {
            object? permits = call.State;
            if (permits is not null)
            {
                call.State = null;
                Admission.Release(permits);
            }
        }
        catch (Exception ex)
        {
            engine.ReportFault(ex);
        }
    }

    private static ValueTask<InboundResponse?> Enter(InboundCall call, in Match match, in Ticket ticket)
    {
        var rejected = Admission.Enter(in match, in ticket);
        if (rejected is not null)
        {
            return new ValueTask<InboundResponse?>(rejected.Rejection.For(call.IsGrpc));
        }

        call.State = Admission.PermitState(in match);
        return default;
    }

    private static async Task<InboundResponse?> EnterAfterAsync(ThrottleEngine engine, InboundCall call, Match match, Ticket ticket)
    {
        try
        {
            // A client that goes away stops waiting at once and gives its slot back, so the
            // requests queued after it (and the next ones) do not wait for a request nobody reads.
            var aborted = call.RequestAborted;
            try
            {
                await Task.Delay(engine.Clock.ToTimeSpan(ticket.WaitTicks), engine.Clock.Provider, aborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (aborted.IsCancellationRequested)
            {
                Admission.Abandon(in match, in ticket);
                for (int i = 0; i < match.Count; i++)
                {
                    if (match[i].Queues.Length != 0)
                    {
                        match[i].Stats.AddAbandoned();
                    }
                }

                // Answered, so that the app does not serve a request nobody will read.
                return call.IsGrpc ? Rejection.GrpcClientGone : Rejection.ClientGone;
            }

            return await Enter(call, in match, in ticket).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            engine.ReportFault(ex);
            return null;
        }
    }
}
