using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;
using static Governor.Plugins.Throttle.Tests.Fakes.TestRules;

namespace Governor.Plugins.Throttle.Tests;

public sealed class StatusTests
{
    [Fact]
    public async Task Collect_AfterTraffic_ReportsPassBlockAndStatePerResource()
    {
        using var host = new ThrottleHost(Join(RateLimit("a", 3), RateLimit("b", 1), Rule("r1", "a", "/a"), Rule("r2", "b", "api.example.com")));
        host.Admitted(5, "GET", "/a");
        for (int i = 0; i < 4; i++)
        {
            await host.SendAsync("https://api.example.com/");
        }

        var status = host.Context.CollectStatus();

        Assert.Equal(3, status.Counters[("/a", "passed")]);
        Assert.Equal(2, status.Counters[("/a", "blocked")]);
        Assert.Equal(1, status.Counters[("api.example.com", "passed")]);
        Assert.Equal(3, status.Counters[("api.example.com", "blocked")]);
        Assert.Equal(0, status.Counters[("/a", "queued")]);
        Assert.Equal("enforcing", status.States["/a"]);
        Assert.Equal(3, status.Gauges[("/a", "rateLimit")]);
        Assert.Equal(0, status.Counters[("(throttle)", "faults")]);
    }

    [Fact]
    public async Task GovernorMeter_AfterTraffic_PublishesThrottleCountersAndGaugesPerResource()
    {
        // The core's status hub and Meter, fed by the plugin as the agent wires them: what an
        // OpenTelemetry or Prometheus exporter reads.
        using var host = new ThrottleHost(Join(RateLimit("a", 3), Rule("r1", "a", "/a"), Rule("r2", "a", "api.example.com")));
        host.Admitted(5, "GET", "/a");
        for (int i = 0; i < 4; i++)
        {
            await host.SendAsync("https://api.example.com/");
        }

        var hub = new Governor.Core.Status.StatusHub();
        foreach (var provider in host.Context.StatusProviders)
        {
            hub.Register("throttle", provider);
        }

        var seen = new Dictionary<(string Instrument, string? Resource, string? Name), double>();
        using var meter = new Governor.Core.Status.GovernorMeter("test", hub, () => []);
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Governor")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(System.Diagnostics.Metrics.Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? plugin = null, resource = null, name = null;
            foreach (var tag in tags)
            {
                plugin = tag.Key == "plugin" ? (string?)tag.Value : plugin;
                resource = tag.Key == "resource" ? (string?)tag.Value : resource;
                name = tag.Key == "name" ? (string?)tag.Value : name;
            }

            if (plugin == "throttle")
            {
                seen[(instrument.Name, resource, name)] = value;
            }
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(3, seen[("governor.resource.count", "/a", "passed")]);
        Assert.Equal(2, seen[("governor.resource.count", "/a", "blocked")]);
        Assert.Equal(3, seen[("governor.resource.count", "api.example.com", "passed")]);
        Assert.Equal(1, seen[("governor.resource.count", "api.example.com", "blocked")]);
        Assert.Equal(3, seen[("governor.resource.gauge", "/a", "rateLimit")]);
    }

    [Fact]
    public void Collect_DuringWarmUp_ReportsTheCurrentRate()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 90, "warmUpPeriodSec: 10"), Rule("r", "rl", "/w")));

        Assert.Equal(30, host.Admitted(100, "GET", "/w"));
        Assert.Equal(30, host.Context.CollectStatus().Gauges[("/w", "rateLimit")]);
    }

    [Fact]
    public void Collect_ResourcesOfRemovedRules_AreNoLongerReported()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 3), Rule("r", "rl", "/a")));
        host.Reload(Join(RateLimit("rl", 3), Rule("r", "rl", "/b")));

        var status = host.Context.CollectStatus();

        Assert.DoesNotContain(("/a", "passed"), status.Counters.Keys);
        Assert.Contains(("/b", "passed"), status.Counters.Keys);
    }
}
