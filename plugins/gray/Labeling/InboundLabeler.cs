using Governor.Interception;

namespace Governor.Plugins.Gray.Labeling;

/// <summary>
/// Gives each inbound request its traffic label, in this order: a label that arrived with the
/// request (when trusted), else the first TrafficLabelRule that matches, else (with
/// <c>labelByWorkload</c>) this instance's own lane. The label goes on the request context, which
/// the app's code carries to every call it makes. A request that gets no label costs no
/// allocation: the context is only created when there is something to put on it.
/// </summary>
internal sealed class InboundLabeler : IInboundHandler
{
    private readonly GrayRuntime _runtime;

    public InboundLabeler(GrayRuntime runtime) => _runtime = runtime;

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
    {
        try
        {
            Label(call);
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "labeling an inbound request");
        }

        return default;
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
    }

    private void Label(InboundCall call)
    {
        // Another handler (or the provider) already decided this request's label.
        if (call.ContextIfCreated?.TrafficLabel is not null)
        {
            return;
        }

        var runtime = _runtime;
        var state = runtime.State;
        string? received = runtime.Carrier.ReadInbound(call, out bool present);
        if (present)
        {
            if (!runtime.Options.TrustInboundLabel)
            {
                // From outside the mesh: ignored, and stripped from the calls this request causes.
                runtime.Stats.CountUntrusted();
                call.Context.Set(GrayRuntime.UntrustedLabel, GrayRuntime.Marker);
                // ASP.NET Core has put an arriving baggage header into the request's activity, and
                // HttpClient would forward it on every call: the forged label must leave it too.
                Propagation.TracingBaggage.RemoveLabel();
            }
            else if (received is not null)
            {
                call.Context.TrafficLabel = received;
                runtime.Stats.Inbound(received).CountReceived();
                return;
            }
            else
            {
                runtime.Stats.CountInvalid();
            }
        }

        var rule = state.Matcher.Match(call);
        if (rule is not null)
        {
            call.Context.TrafficLabel = rule.Label;
            rule.Stats.CountRule();
            return;
        }

        if (runtime.Options.LabelByWorkload && state.WorkloadLabel is { } lane)
        {
            call.Context.TrafficLabel = lane;
            state.WorkloadStats?.CountWorkload();
        }
    }
}
