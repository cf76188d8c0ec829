using System.Collections.Concurrent;
using Governor.Status;

namespace Governor.Plugins.Gray.Status;

/// <summary>Counters of requests that got a label on the way in, per label.</summary>
internal sealed class InboundLabelStats
{
    private long _byRule;
    private long _received;
    private long _byWorkload;

    public InboundLabelStats(string label) => Label = label;

    public string Label { get; }

    public long ByRule => Volatile.Read(ref _byRule);

    public long Received => Volatile.Read(ref _received);

    public long ByWorkload => Volatile.Read(ref _byWorkload);

    public void CountRule() => Interlocked.Increment(ref _byRule);

    public void CountReceived() => Interlocked.Increment(ref _received);

    public void CountWorkload() => Interlocked.Increment(ref _byWorkload);
}

/// <summary>Counters of outbound calls carrying one label, whatever their destination.</summary>
internal sealed class PropagationStats
{
    private long _propagated;

    public PropagationStats(string label) => Label = label;

    public string Label { get; }

    public long Propagated => Volatile.Read(ref _propagated);

    public void Count() => Interlocked.Increment(ref _propagated);
}

/// <summary>Routing counters of one (service, label) pair.</summary>
internal sealed class RouteStats
{
    private long _labeled;
    private long _routed;
    private long _fallbacks;
    private long _refused;

    public RouteStats(string service, string label)
    {
        Service = service;
        Label = label;
    }

    public string Service { get; }

    public string Label { get; }

    /// <summary>Calls to the service that carried the label.</summary>
    public long Labeled => Volatile.Read(ref _labeled);

    /// <summary>Calls sent to an instance of the label's lane (in observe mode: that would have been).</summary>
    public long Routed => Volatile.Read(ref _routed);

    /// <summary>Calls that went to base: no instance of the lane, all ejected, or one refused the connection.</summary>
    public long Fallbacks => Volatile.Read(ref _fallbacks);

    /// <summary>Lane instances that refused a connection (each one is followed by a fallback when the call can be retried).</summary>
    public long Refused => Volatile.Read(ref _refused);

    public void CountLabeled() => Interlocked.Increment(ref _labeled);

    public void CountRouted() => Interlocked.Increment(ref _routed);

    public void CountFallback() => Interlocked.Increment(ref _fallbacks);

    public void CountRefused() => Interlocked.Increment(ref _refused);
}

/// <summary>
/// Every counter of the plugin, keyed by label and by (service, label). Lives as long as the
/// plugin, across rule reloads (compiled rules keep references to their entries). Lookups are
/// lock-free reads of concurrent dictionaries; the number of entries is bounded, because labels
/// may come from request headers: past the bound, new names share one "(other)" entry.
/// </summary>
internal sealed class GrayStats : IStatusProvider
{
    internal const int MaxEntries = 256;
    internal const string Other = "(other)";

    private readonly ConcurrentDictionary<string, InboundLabelStats> _inbound = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, PropagationStats> _propagation = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Service, string Label), RouteStats> _routes = new(ServiceLabelComparer.Instance);
    private long _untrusted;
    private long _invalid;

    /// <summary>Set while the plugin only observes (routing decisions are counted, not applied).</summary>
    public bool Observing { get; set; }

    public long UntrustedIgnored => Volatile.Read(ref _untrusted);

    public long InvalidIgnored => Volatile.Read(ref _invalid);

    public void CountUntrusted() => Interlocked.Increment(ref _untrusted);

    public void CountInvalid() => Interlocked.Increment(ref _invalid);

    public InboundLabelStats Inbound(string label) => Get(_inbound, label, static l => new InboundLabelStats(l));

    public PropagationStats Propagation(string label) => Get(_propagation, label, static l => new PropagationStats(l));

    public RouteStats Route(string service, string label)
    {
        if (_routes.TryGetValue((service, label), out var stats))
        {
            return stats;
        }

        var key = _routes.Count >= MaxEntries ? (service, Other) : (service, label);
        return _routes.GetOrAdd(key, static k => new RouteStats(k.Service, k.Label));
    }

    public void Collect(StatusCollector collector)
    {
        if (UntrustedIgnored != 0 || InvalidIgnored != 0)
        {
            collector.Counter("inbound", "untrustedLabelsIgnored", UntrustedIgnored);
            collector.Counter("inbound", "invalidLabelsIgnored", InvalidIgnored);
        }

        foreach (var s in _inbound.Values)
        {
            string resource = "inbound/" + s.Label;
            collector.Counter(resource, "labeledByRule", s.ByRule);
            collector.Counter(resource, "labelReceived", s.Received);
            collector.Counter(resource, "labeledByWorkload", s.ByWorkload);
        }

        foreach (var s in _propagation.Values)
        {
            collector.Counter("outbound/" + s.Label, "propagated", s.Propagated);
        }

        foreach (var s in _routes.Values)
        {
            string resource = "route/" + s.Service + "/" + s.Label;
            collector.Counter(resource, "labeled", s.Labeled);
            collector.Counter(resource, "routed", s.Routed);
            collector.Counter(resource, "fallbacks", s.Fallbacks);
            collector.Counter(resource, "refused", s.Refused);
            collector.State(resource, Observing ? "observe" : "enforce");
        }
    }

    private static T Get<T>(ConcurrentDictionary<string, T> map, string label, Func<string, T> create)
    {
        if (map.TryGetValue(label, out var value))
        {
            return value;
        }

        return map.GetOrAdd(map.Count >= MaxEntries ? Other : label, create);
    }

    private sealed class ServiceLabelComparer : IEqualityComparer<(string Service, string Label)>
    {
        public static readonly ServiceLabelComparer Instance = new();

        public bool Equals((string Service, string Label) x, (string Service, string Label) y) =>
            string.Equals(x.Service, y.Service, StringComparison.OrdinalIgnoreCase) && string.Equals(x.Label, y.Label, StringComparison.OrdinalIgnoreCase);

        public int GetHashCode((string Service, string Label) obj) =>
            HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(obj.Service), StringComparer.OrdinalIgnoreCase.GetHashCode(obj.Label));
    }
}
