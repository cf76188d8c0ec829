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
