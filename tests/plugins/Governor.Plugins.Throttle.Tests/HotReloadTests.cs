using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;
using static Governor.Plugins.Throttle.Tests.Fakes.TestRules;

namespace Governor.Plugins.Throttle.Tests;

public sealed class HotReloadTests
{
    [Fact]
    public void Reload_ThresholdLowered100To20_TakesEffectAtOnceWithoutResettingTheWindow()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 100), Rule("r", "rl", "/foo")));
        Assert.Equal(50, host.Admitted(50, "GET", "/foo"));

        host.Reload(Join(RateLimit("rl", 20), Rule("r", "rl", "/foo")));

        // The 50 already counted in this window exceed the new threshold: nothing more now.
        Assert.Equal(0, host.Admitted(10, "GET", "/foo"));
        host.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(20, host.Admitted(50, "GET", "/foo"));
    }

    [Fact]
    public void Reload_ThresholdRaised_KeepsTheCountOfTheCurrentWindow()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 20), Rule("r", "rl", "/foo")));
        Assert.Equal(20, host.Admitted(30, "GET", "/foo"));

        host.Reload(Join(RateLimit("rl", 30), Rule("r", "rl", "/foo")));

        Assert.Equal(10, host.Admitted(30, "GET", "/foo"));
    }

    [Fact]
    public void Reload_StatDurationChanged_StartsANewWindow()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 20), Rule("r", "rl", "/foo")));
        Assert.Equal(20, host.Admitted(30, "GET", "/foo"));

        host.Reload(Join(RateLimit("rl", 20).Replace("statDuration: \"1s\"", "statDuration: \"2s\"", StringComparison.Ordinal), Rule("r", "rl", "/foo")));

        Assert.Equal(20, host.Admitted(30, "GET", "/foo"));
    }

    [Fact]
    public void Reload_UnrelatedRuleAdded_KeepsCountersAndWindows()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 20), Rule("r", "rl", "/foo")));
        Assert.Equal(20, host.Admitted(25, "GET", "/foo"));

        host.Reload(Join(RateLimit("rl", 20), Rule("r", "rl", "/foo"), RateLimit("other", 5), Rule("r2", "other", "/bar")));

        Assert.Equal(0, host.Admitted(5, "GET", "/foo"));
        var status = host.Context.CollectStatus();
        Assert.Equal(20, status.Counters[("/foo", "passed")]);
        Assert.Equal(10, status.Counters[("/foo", "blocked")]);
        Assert.Equal(0, status.Counters[("/bar", "passed")]);
    }

    [Fact]
    public void Reload_RuleRemoved_StopsThrottling()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "/foo")));
        Assert.Equal(0, host.Admitted(3, "GET", "/foo"));

        host.Reload(RateLimit("rl", 0));

        Assert.Equal(3, host.Admitted(3, "GET", "/foo"));
    }

    [Fact]
    public void Reload_ConcurrencyMaxLowered_KeepsPermitsInFlight()
    {
        string Limit(int max) => Join(Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: " + max, "limitMode: Local"), Rule("r", "cl", "/slow"));
        using var host = new ThrottleHost(Limit(3));
        var held = Enumerable.Range(0, 3).Select(_ => new FakeInboundCall("GET", "/slow")).ToList();
        var handler = host.Inbound.Handlers.Single();
        foreach (var call in held)
        {
            Assert.Null(handler.OnRequestAsync(call).Completed());
        }

        host.Reload(Limit(2));
        Assert.NotNull(host.Request("GET", "/slow"));
        handler.OnCompleted(held[0], default);
        Assert.NotNull(host.Request("GET", "/slow"));
        handler.OnCompleted(held[1], default);

        Assert.Null(host.Request("GET", "/slow"));
        handler.OnCompleted(held[2], default);
        Assert.Equal(0, host.Context.CollectStatus().Gauges[("/slow", "inFlight")]);
    }

    [Fact]
    public void Reload_OlderSnapshotArrivesAfterNewer_IsIgnored()
    {
        var older = TestRules.Parse(Join(RateLimit("rl", 100), Rule("r", "rl", "/foo")));
        var newer = TestRules.Parse(Join(RateLimit("rl", 2), Rule("r", "rl", "/foo")));
        using var host = new ThrottleHost(newer);

        host.Context.RuleSource.Publish(older);

        Assert.Equal(2, host.Admitted(5, "GET", "/foo"));
    }

    [Fact]
    public void Reload_StrategyNameMatchesNothing_IsLoggedOnceWhileItStays()
    {
        string rules = Join(RateLimit("rl", 5), Rule("r", new[] { "rl", "rate-limit-typo" }, null, "/foo"));
        using var host = new ThrottleHost(rules);

        host.Reload(rules);
        host.Reload(rules);

        string line = Assert.Single(host.Context.Log.Lines, l => l.Contains("rate-limit-typo", StringComparison.Ordinal));
        Assert.Contains("strategy 'rate-limit-typo' matches no rule document", line);
        Assert.Contains("FaultToleranceRule r (throttle.yaml, document 1)", line);

        // The rest of the rule applies.
        Assert.Equal(5, host.Admitted(6, "GET", "/foo"));
    }

    [Fact]
    public void Compile_OtherPluginsStrategyKind_IsIgnoredSilently()
    {
        string rule = Rule("r", new[] { "rl" }, null, "/foo").Replace("    - name: rl\n", "    - name: rl\n    - name: cb-foo\n      kind: CircuitBreakerStrategy\n", StringComparison.Ordinal);
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), rule));

        Assert.DoesNotContain(host.Context.Log.Lines, l => l.Contains("cb-foo", StringComparison.Ordinal));
        Assert.Equal(1, host.Admitted(2, "GET", "/foo"));
    }

    [Fact]
    public void Compile_MissingFallbackAndBadTarget_AreLoggedAndTheRestApplies()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", new[] { "rl" }, "no-such-fallback", "/foo", "sql:select")));

        Assert.Contains(host.Context.Log.Lines, l => l.Contains("fallbackAction 'no-such-fallback' matches no HttpRequestFallbackAction", StringComparison.Ordinal));
        Assert.Contains(host.Context.Log.Lines, l => l.Contains("target 'sql:select' has port 'select'", StringComparison.Ordinal));
        Assert.Equal(1, host.Admitted(2, "GET", "/foo"));
        Assert.Equal(429, host.Request("GET", "/foo")!.StatusCode);
    }
}
