using System.Diagnostics;
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
        var inbound = new InboundThrottleHandler(engine);
        var outbound = new OutboundThrottleHandler(engine);
        using var tokenBucket = Fixtures.TokenBucket();
        var window = new WindowRateLimiter(1000, Fixtures.PassThreshold, null, 3);
        var clock = ThrottleClock.System;
        InboundCall noRule = new BenchInboundCall("GET", "/api/customers/42", "/api/customers/{id}");
        InboundCall path = new BenchInboundCall("GET", "/api/orders", null);
        InboundCall three = new BenchInboundCall("POST", "/api/v1/items3", "/api/orders/{id}");
        InboundCall slow = new BenchInboundCall("GET", "/api/slow", null);
        var host = new BenchOutboundCall("https://api.example.com/v1/orders");

        Measure("TokenBucketRateLimiter.AttemptAcquire", () =>
        {
            using var lease = tokenBucket.AttemptAcquire(1);
            return lease.IsAcquired;
        });
        Measure("RateLimitStrategy (sliding window)", () => window.TryAcquire(clock.NowMs));
        Measure("inbound, path with no rule", () => Inbound(inbound, noRule));
        Measure("inbound, path with a rate limit", () => Inbound(inbound, path));
        Measure("inbound, path + METHOD:path + route, 3 rate limits", () => Inbound(inbound, three));
        Measure("inbound, rate limit + concurrency limit", () => Inbound(inbound, slow));
        Measure("outbound, host with a rate limit", () =>
        {
            bool passed = outbound.OnRequestAsync(host, CancellationToken.None).Result is null;
            outbound.OnCompleted(host, default);
            return passed;
        });
    }

    private static bool Inbound(InboundThrottleHandler handler, InboundCall call)
    {
        bool passed = handler.OnRequestAsync(call).Result is null;
        handler.OnCompleted(call, default);
        return passed;
    }

    private static void Measure(string name, Func<bool> operation)
    {
        var cpu = new List<double>();
        var wall = new List<double>();
        for (int round = 0; round < 3; round++)
        {
            int passed = 0;
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < Calls; i++)
            {
                if (operation())
                {
                    passed++;
                }
            }

            wall.Add(clock.Elapsed.TotalNanoseconds / Calls);
            cpu.Add((Environment.CpuUsage.TotalTime - cpuBefore).TotalNanoseconds / Calls);
            if (passed != Calls)
            {
                throw new InvalidOperationException($"{name}: {Calls - passed} calls were rejected; the check measures the pass path only.");
            }
        }

        // The delegate call adds about 1-2 ns to every figure.
        Console.WriteLine($"| {name} | {cpu.Min():F1} ns | {wall.Min():F1} ns |");
    }
}
