using System.Diagnostics.Metrics;

namespace Governor.Core.Status;

/// <summary>
/// The <c>Governor</c> Meter, so an app's OpenTelemetry or Prometheus exporter sees the agent
/// without configuration beyond adding the meter name. Every instrument is observable: values
/// are gathered only when an exporter collects, never on the app's hot path.
/// </summary>
internal sealed class GovernorMeter : IDisposable
{
    private readonly Meter _meter;

    public GovernorMeter(string version, StatusHub hub, Func<IReadOnlyList<PluginStatus>> plugins)
    {
        _meter = new Meter("Governor", version);
        _meter.CreateObservableGauge("governor.plugin.state", () => plugins().Select(p => new Measurement<int>(1, new KeyValuePair<string, object?>("plugin", p.Name), new KeyValuePair<string, object?>("state", p.State))), description: "1 for each plugin in its current state");
        _meter.CreateObservableCounter("governor.resource.count", () => Counters(hub), description: "Per-resource plugin counters (passed, blocked, routed, ...)");
        _meter.CreateObservableGauge("governor.resource.gauge", () => Gauges(hub), description: "Per-resource plugin gauges (in-flight, ...)");
    }

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<long>> Counters(StatusHub hub)
    {
        foreach (var r in hub.CollectResources())
        {
            foreach (var (name, value) in r.Counters)
            {
                yield return new Measurement<long>(value, new("plugin", r.Plugin), new("resource", r.Resource), new("name", name));
            }
        }
    }

    private static IEnumerable<Measurement<double>> Gauges(StatusHub hub)
    {
        foreach (var r in hub.CollectResources())
        {
            foreach (var (name, value) in r.Gauges)
            {
                yield return new Measurement<double>(value, new("plugin", r.Plugin), new("resource", r.Resource), new("name", name));
            }
        }
    }
}
