namespace Governor.Status;

/// <summary>
/// A plugin's counters, polled by the agent (about once a second, and when the status file or
/// an EventPipe listener asks) — never on the app's hot path. Keep live counters in plain
/// fields updated with <see cref="Interlocked"/> and copy them here.
/// </summary>
public interface IStatusProvider
{
    void Collect(StatusCollector collector);
}

/// <summary>Receives counters during <see cref="IStatusProvider.Collect"/>.</summary>
public abstract class StatusCollector
{
    /// <summary>A monotonically increasing count, e.g. ("throttle", "/orders", "blocked", 12).</summary>
    public abstract void Counter(string resource, string name, long value);

    /// <summary>A current value, e.g. in-flight requests.</summary>
    public abstract void Gauge(string resource, string name, double value);

    /// <summary>A textual state, e.g. a breaker's "Open".</summary>
    public abstract void State(string resource, string state);
}
