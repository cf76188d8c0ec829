using Governor.Status;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>Collects a status provider's counters, gauges and states into dictionaries.</summary>
internal sealed class RecordingCollector : StatusCollector
{
    public Dictionary<(string Resource, string Name), long> Counters { get; } = new();

    public Dictionary<(string Resource, string Name), double> Gauges { get; } = new();

    public Dictionary<string, string> States { get; } = new();

    public static RecordingCollector From(IStatusProvider provider)
    {
        var collector = new RecordingCollector();
        provider.Collect(collector);
        return collector;
    }

    public override void Counter(string resource, string name, long value) => Counters[(resource, name)] = value;

    public override void Gauge(string resource, string name, double value) => Gauges[(resource, name)] = value;

    public override void State(string resource, string state) => States[resource] = state;

    public long Counter(string resource, string name) => Counters.TryGetValue((resource, name), out long v)
        ? v
        : throw new KeyNotFoundException($"no counter {name} for {resource}; resources: {string.Join(" | ", States.Keys)}");
}
