using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Exercises the inbound route stage (<see cref="IInboundRouteHandler"/>): on every request that
/// routing matched it adds the response header <c>x-route-stage</c> with the template it saw there;
/// it answers there when the request's <c>x-route-block</c> header equals that template (HTTP 429
/// with a body naming it, gRPC status 8), and waits there first for <c>x-route-wait-ms</c>
/// milliseconds (the provider's deferred path).
/// </summary>
public sealed class InboundRouteBlockingPlugin : IGovernorPlugin, IInboundHandler, IInboundRouteHandler
{
    private IDisposable? _subscription;

    public void Start(IPluginContext context) =>
        _subscription = context.Interception.Inbound.Subscribe(this, context.Settings.GetInt("order", 20), context.PluginName, measuresDuration: false);

    public void Stop() => _subscription?.Dispose();

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => default;

    public ValueTask<InboundResponse?> OnRouteMatchedAsync(InboundCall call)
    {
        string? template = call.RouteTemplate;
        call.AddResponseHeader("x-route-stage", template ?? "(none)");
        var answer = Decide(call, template);
        return int.TryParse(call.GetHeader("x-route-wait-ms"), out int ms) ? WaitThen(ms, answer) : new ValueTask<InboundResponse?>(answer);
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
    }

    private static InboundResponse? Decide(InboundCall call, string? template)
    {
        if (template is null || call.GetHeader("x-route-block") != template)
        {
            return null;
        }

        return call.IsGrpc
            ? InboundResponse.Grpc(8, $"route {template} blocked")
            : new InboundResponse(429, $"route {template} blocked", headers: new[] { KeyValuePair.Create("x-blocked-at", "route stage") });
    }

    private static async ValueTask<InboundResponse?> WaitThen(int ms, InboundResponse? answer)
    {
        await Task.Delay(ms).ConfigureAwait(false);
        return answer;
    }
}
