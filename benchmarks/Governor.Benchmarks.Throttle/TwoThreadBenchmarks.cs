using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.Throttle;
using Governor.Plugins.Throttle.Limiting;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// Contention: the same limiter (one resource) hit by one thread and by two threads at once,
/// on this two-core machine. The reported time is per operation over all threads, so perfect
/// scaling halves it and a collapse multiplies it.
/// </summary>
public class TwoThreadBenchmarks
{
    private const int PerThread = 1_000_000;

    private TokenBucketRateLimiter _tokenBucket = null!;
    private WindowRateLimiter _window = null!;
    private InboundCheck _inbound = null!;
    private ThrottleClock _clock = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tokenBucket = Fixtures.TokenBucket();
        _clock = ThrottleClock.System;
        _window = new WindowRateLimiter(1000, Fixtures.PassThreshold, null, 3);
        _inbound = new InboundCheck(Fixtures.Engine());
    }

    [GlobalCleanup]
    public void Cleanup() => _tokenBucket.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = PerThread * 2, Description = "TokenBucketRateLimiter.AttemptAcquire")]
    public void TokenBucket() => OnThreads(() =>
    {
        for (int i = 0; i < Total(); i++)
        {
            using var lease = _tokenBucket.AttemptAcquire(1);
        }
    });

    [Benchmark(OperationsPerInvoke = PerThread * 2, Description = "RateLimitStrategy (sliding window)")]
    public void SlidingWindow() => OnThreads(() =>
    {
        for (int i = 0; i < Total(); i++)
        {
            _window.TryAcquire(_clock.NowMs);
        }
    });

    [Benchmark(OperationsPerInvoke = PerThread * 2, Description = "whole inbound check, path with a rate limit")]
    public void InboundCheck() => OnThreads(() =>
    {
        var call = new BenchInboundCall("GET", "/api/orders", null);
        for (int i = 0; i < Total(); i++)
        {
            _inbound.Run(call);
        }
    });

    // Every variant does PerThread * 2 operations in all, split over the threads.
    private int Total() => PerThread * 2 / Threads;

    private void OnThreads(Action work)
    {
        if (Threads == 1)
        {
            work();
            return;
        }

        var other = new Thread(() => work());
        other.Start();
        work();
        other.Join();
    }
}
