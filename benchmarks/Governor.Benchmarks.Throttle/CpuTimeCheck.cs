using Governor.Interception;
using Governor.Plugins.Throttle;
using Governor.Plugins.Throttle.Limiting;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// A cross-check for a shared, loaded machine (<c>--cpu-check</c>): BenchmarkDotNet measures
/// wall time, which other processes inflate whenever they take the core away; this loop also
/// measures the CPU time the process spent, which they do not. Same operations as the
/// benchmarks, 20 million calls each, three rounds.
/// </summary>
internal static class CpuTimeCheck
{
    private const int Calls = 20_000_000;

    public static void Run()
    {
        var engine = Fixtures.Engine();
        var inbound = new InboundCheck(engine);
        var outbound = new OutboundThrottleHandler(engine);
        using var tokenBucket = Fixtures.TokenBucket();
        var window = new WindowRateLimiter(1000, Fixtures.PassThreshold, null, 3);
        var clock = ThrottleClock.System;
        var noRule = new BenchInboundCall("GET", "/api/customers/42", "/api/customers/{id}");
        var path = new BenchInboundCall("GET", "/api/orders", null);
        var three = new BenchInboundCall("POST", "/api/v1/items3", "/api/orders/{id}");
        var slow = new BenchInboundCall("GET", "/api/slow", null);
        var host = new BenchOutboundCall("https://api.example.com/v1/orders");

        Measure("TokenBucketRateLimiter.AttemptAcquire", () =>
        {
            using var lease = tokenBucket.AttemptAcquire(1);
            return lease.IsAcquired;
        });
        Measure("RateLimitStrategy (sliding window)", () => window.TryAcquire(clock.NowMs));
        Measure("inbound, path and route with no rule", () => inbound.Run(noRule));
        Measure("inbound, path with a rate limit", () => inbound.Run(path));
        Measure("inbound, path + METHOD:path + route, 3 rate limits", () => inbound.Run(three));
        Measure("inbound, rate limit + concurrency limit", () => inbound.Run(slow));
        Measure("outbound, host with a rate limit", () =>
        {
            bool passed = outbound.OnRequestAsync(host, CancellationToken.None).Result is null;
            outbound.OnCompleted(host, default);
            return passed;
        });
    }

    private static void Measure(string name, Func<bool> operation) => CpuTime.Measure(name, operation, Calls);
}
