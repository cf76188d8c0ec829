using Governor.Interception;
using Governor.Plugins.Gray.Status;

namespace Governor.Plugins.Gray.Routing;

/// <summary>
/// On every outbound call: puts the request's label on it (baggage and header) and sends it to
/// the instances of the label's lane when the destination service has some, else lets it go to
/// base, where the app sent it. A lane instance that refuses the connection is skipped for a
/// while and the call is sent again, once, to base. Unlabeled calls are never sent to a labeled
/// instance. Cost when the call has no label and no lane address is declared on its port: one
/// pass over the request's headers and nothing allocated.
/// </summary>
internal sealed class OutboundRouter : IOutboundHandler
{
    private readonly GrayRuntime _runtime;

    public OutboundRouter(GrayRuntime runtime) => _runtime = runtime;

    public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken)
    {
        try
        {
            if (call.Attempt == 0)
            {
                OnFirstAttempt(call);
            }
            else if (call.State is RouteDecision { Refused: true } decision)
            {
                decision.FallBack(call.Request);
            }
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "routing an outbound call");
        }

        return default;
    }

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome)
    {
        try
        {
            if (call.State is RouteDecision { Refused: false } decision && NoConnection(outcome))
            {
                // Nothing listens there, or it cannot be reached: the instance is gone (or not up
                // yet). The request never reached a server, so sending it to base is safe.
                decision.Refused = true;
                decision.Target.Eject(_runtime.Options.EjectionTime);
                decision.Stats.CountRefused();
                // A refused connection means no byte of the request left this process, so sending
                // it again cannot repeat its effect, whatever the method: say so to the provider
                // (it still refuses when the body cannot be sent twice, or for plain HTTP methods
                // that are not idempotent, which it judges by method alone).
                call.MarkIdempotent();
                bool retry = call.CanRetry && call.Attempt + 1 < OutboundCall.MaxAttempts;
                _runtime.Refused(decision.Target, retry);
                return retry ? OutboundDecision.Retry : OutboundDecision.None;
            }
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "completing an outbound call");
        }

        return OutboundDecision.None;
    }

    /// <summary>
    /// The connection to the lane instance could not be made (refused, or any other failure to
    /// connect, such as a pod address that no longer routes): nothing of the request was sent.
    /// </summary>
    internal static bool NoConnection(in OutboundOutcome outcome) =>
        outcome.IsConnectionRefused || outcome.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError };

    private void OnFirstAttempt(OutboundCall call)
    {
        var runtime = _runtime;
        var request = call.Request;
        var context = call.Context;
        string? label = context?.TrafficLabel;
        if (label is null)
        {
            if (context is not null && context.Get(GrayRuntime.UntrustedLabel) is not null)
            {
                runtime.Carrier.Strip(request);
            }
            else
            {
                // The app labeled this call itself (or forwarded a label it received).
                label = runtime.Carrier.ReadOutbound(request);
            }
        }

        var uri = request.RequestUri;
        if (label is null)
        {
            if (uri is { IsAbsoluteUri: true } && runtime.State.Directory.MayBeLaneAddress(uri))
            {
                SteerToBase(call, uri);
            }

            return;
        }

        runtime.Carrier.Write(request, label);
        runtime.Stats.Propagation(label).Count();
        if (uri is { IsAbsoluteUri: true })
        {
            Route(call, uri, label);
        }
    }

    private void Route(OutboundCall call, Uri uri, string label)
    {
        var runtime = _runtime;
        var service = runtime.State.Directory.Find(uri, out var at);
        if (service is not null)
        {
            RouteDeclared(call, uri, label, service, at);
            return;
        }

        if (runtime.Dns is not { } dns || !DnsLanes.AppliesTo(uri))
        {
            return;
        }

        string host = uri.IdnHost;
        var stats = runtime.Stats.Route(host, label);
        stats.CountLabeled();
        var target = dns.Find(host, label);
        if (target is null || target.IsEjected)
        {
            stats.CountFallback();
            runtime.Decision("no lane Service in DNS (or not looked up yet), base", host, label, uri.Authority);
            return;
        }

        stats.CountRouted();
        Send(call, uri, target, stats, null, "lane Service");
    }

    /// <summary>Routing by a VirtualWorkloads rule; <paramref name="at"/> is the lane of the address the app used, if declared.</summary>
    private void RouteDeclared(OutboundCall call, Uri uri, string label, ServiceEntry service, Lane? at)
    {
        var lane = service.Find(label);
        var stats = lane?.Stats ?? _runtime.Stats.Route(service.Name, label);
        stats.CountLabeled();
        if (lane is not null && ReferenceEquals(at, lane))
        {
            // The app already calls an instance of the right lane.
            stats.CountRouted();
            return;
        }

        // A destination inside a labeled lane is not base: falling back means a declared base instance.
        var fallbackFrom = at?.Label is not null ? service : null;
        var target = lane?.Pick();
        if (target is not null)
        {
            stats.CountRouted();
            Send(call, uri, target, stats, fallbackFrom, "lane instance");
            return;
        }

        stats.CountFallback();
        if (fallbackFrom?.Base?.Pick() is { } baseTarget)
        {
            Send(call, uri, baseTarget, null, null, "no instance of the lane, declared base instance");
            return;
        }

        _runtime.Decision("no instance of the lane, base", service.Name, label, uri.Authority);
    }

    /// <summary>An unlabeled call addressed to a labeled instance goes to a declared base instance instead.</summary>
    private void SteerToBase(OutboundCall call, Uri uri)
    {
        var service = _runtime.State.Directory.Find(uri, out var at);
        if (service is null || at?.Label is null)
        {
            return;
        }

        var target = service.Base?.Pick();
        if (target is null)
        {
            _runtime.Decision("unlabeled call to a lane instance and no base instance declared: sent as is", service.Name, "(none)", uri.Authority);
            return;
        }

        _runtime.Stats.Route(service.Name, "base").CountRouted();
        Send(call, uri, target, null, null, "unlabeled call to a lane instance, declared base instance");
    }

    /// <summary>
    /// Rewrites the destination (unless observing). <paramref name="laneStats"/> is set when the
    /// target is a lane instance: its refusal then falls back to base, which is the original
    /// destination or, when that was a lane instance too, a base instance of <paramref name="fallbackFrom"/>.
    /// </summary>
    private void Send(OutboundCall call, Uri uri, LaneTarget target, RouteStats? laneStats, ServiceEntry? fallbackFrom, string what)
    {
        var runtime = _runtime;
        string authority = target.Authority(uri);
        runtime.Decision(what, target.Service, target.Label, authority);
        if (runtime.Options.Observe)
        {
            return;
        }

        var request = call.Request;
        if (runtime.Options.PreserveHost && request.Headers.Host is null)
        {
            // The instance is reached at its own address but asked for the service it stands for,
            // as a mesh does: virtual hosts, AllowedHosts and (for https) the TLS name stay the service's.
            request.Headers.Host = uri.Authority;
        }

        request.RequestUri = Rewrite(uri, authority);
        if (laneStats is not null)
        {
            call.State = new RouteDecision(uri, target, laneStats, fallbackFrom);
        }
    }

    internal static Uri Rewrite(Uri uri, string authority) => new(string.Concat(uri.Scheme, "://", authority, uri.PathAndQuery));
}

/// <summary>A rerouted call's state (in its handler slot): where it was going, where it went instead.</summary>
internal sealed class RouteDecision
{
    private readonly ServiceEntry? _fallbackFrom;

    public RouteDecision(Uri original, LaneTarget target, RouteStats stats, ServiceEntry? fallbackFrom)
    {
        Original = original;
        Target = target;
        Stats = stats;
        _fallbackFrom = fallbackFrom;
    }

    public Uri Original { get; }

    public LaneTarget Target { get; }

    public RouteStats Stats { get; }

    /// <summary>The lane instance refused the connection; the next attempt goes to base.</summary>
    public bool Refused { get; set; }

    public void FallBack(HttpRequestMessage request)
    {
        Stats.CountFallback();
        if (_fallbackFrom is null)
        {
            request.RequestUri = Original;
        }
        else if (_fallbackFrom.Base?.Pick() is { } baseTarget)
        {
            request.RequestUri = OutboundRouter.Rewrite(Original, baseTarget.Authority(Original));
        }
        else
        {
            // No declared base instance to go to: the original destination is all there is.
            request.RequestUri = Original;
        }
    }
}
