using Governor.Interception;
using Governor.Plugins.Gray.Propagation;
using Governor.Plugins.Gray.Routing;
using Governor.Plugins.Gray.Status;

namespace Governor.Plugins.Gray;

/// <summary>
/// What the inbound and outbound handlers share: the options, the compiled rules (swapped with
/// one volatile write), the carriers, the DNS lane cache, the counters and the rate-limited log.
/// </summary>
internal sealed class GrayRuntime : IDisposable
{
    /// <summary>Marks a request whose label was ignored because it came from outside (see <see cref="GrayOptions.TrustInboundLabel"/>).</summary>
    internal static readonly ContextKey<object> UntrustedLabel = new("gray.untrusted");
    internal static readonly object Marker = new();

    private readonly LogRateLimiter _failures = new(TimeSpan.FromSeconds(10));
    private readonly LogRateLimiter _decisions = new(TimeSpan.FromSeconds(10));
    private readonly LogRateLimiter _refusals = new(TimeSpan.FromSeconds(10));
    private readonly LogRateLimiter _dnsErrors = new(TimeSpan.FromSeconds(30));
    private GrayState _state;

    public GrayRuntime(GrayOptions options, IGovernorLogger log, GrayState state, GrayStats stats, Func<string, CancellationToken, Task<bool>>? resolve = null)
    {
        Options = options;
        Log = log;
        _state = state;
        Stats = stats;
        Stats.Observing = options.Observe;
        Carrier = new LabelCarrier(options.Header, options.AcceptHeaders) { KnownLabels = state.KnownLabels };
        Dns = options.DnsEnabled ? new DnsLanes(options.DnsTemplate, options.DnsTtl, options.DnsNegativeTtl, options.DnsTimeout, ReportDns, resolve) : null;
    }

    public GrayOptions Options { get; }

    public IGovernorLogger Log { get; }

    public GrayStats Stats { get; }

    public LabelCarrier Carrier { get; }

    /// <summary>Null when the one-Service-per-lane convention is turned off.</summary>
    public DnsLanes? Dns { get; }

    public GrayState State => Volatile.Read(ref _state);

    public void Publish(GrayState state)
    {
        Carrier.KnownLabels = state.KnownLabels;
        Volatile.Write(ref _state, state);
    }

    /// <summary>Logs a failure of plugin code at most once per 10 s; the request it happened in goes on (fail-open).</summary>
    public void Failed(Exception exception, string where)
    {
        if (_failures.TryAcquire(out long suppressed))
        {
            Log.Error(exception, "Gray: {Where} failed; the call goes on unchanged (fail-open). {Suppressed} similar failure(s) not logged since the last one", where, suppressed);
        }
    }

    /// <summary>A routing decision, logged at most once per 10 s (Information in observe mode, Debug otherwise).</summary>
    public void Decision(string what, string service, string label, string destination)
    {
        var level = Options.Observe ? GovernorLogLevel.Information : GovernorLogLevel.Debug;
        if (Log.IsEnabled(level) && _decisions.TryAcquire(out long suppressed))
        {
            Log.Write(level, null, "Gray{Mode}: {What} for {Service} label {Label}: {Destination} ({Suppressed} decision(s) not logged since the last one)", Options.Observe ? " (observe)" : string.Empty, what, service, label, destination, suppressed);
        }
    }

    public void Refused(LaneTarget target, bool retried)
    {
        if (_refusals.TryAcquire(out long suppressed))
        {
            Log.Warn("Gray: lane instance {Target} of {Service} (label {Label}) refused the connection; {Action}; skipped for {Ejection}. {Suppressed} similar refusal(s) not logged since the last one",
                target, target.Service, target.Label, retried ? "the call falls back to base" : "the call cannot be sent again (not idempotent), the app sees the error", Options.EjectionTime, suppressed);
        }
    }

    public void Dispose() => Dns?.Dispose();

    private void ReportDns(string host, Exception? exception)
    {
        if (_dnsErrors.TryAcquire(out long suppressed))
        {
            Log.Warn("Gray: looking up lane Service {Host} failed ({Error}); calls for that lane go to base for {NegativeTtl}. {Suppressed} similar failure(s) not logged since the last one", host, exception?.Message, Options.DnsNegativeTtl, suppressed);
        }
    }
}
