using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;
using Governor.Plugins.Throttle.Limiting;
using ConcurrencyLimiter = Governor.Plugins.Throttle.Limiting.ConcurrencyLimiter;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// One admission decision on the pass path: System.Threading.RateLimiting's token bucket
/// (the baseline) against the plugin's limiters, in the same run. The plugin's rate limit
/// reads its clock on every call (the token bucket does not: a timer refills it), so the
/// clock is part of what is measured.
/// </summary>
public class AdmissionBenchmarks
{
    private TokenBucketRateLimiter _tokenBucket = null!;
    private WindowRateLimiter _window = null!;
    private WindowRateLimiter _warmUp = null!;
    private ConcurrencyLimiter _concurrency = null!;
    private ThrottleClock _clock = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tokenBucket = Fixtures.TokenBucket();
        _clock = ThrottleClock.System;
        _window = new WindowRateLimiter(1000, Fixtures.PassThreshold, null, 3);
        _warmUp = new WindowRateLimiter(1000, Fixtures.PassThreshold, 10, 3);
        _concurrency = new ConcurrencyLimiter(1_000_000);
    }

    [GlobalCleanup]
    public void Cleanup() => _tokenBucket.Dispose();

    [Benchmark(Baseline = true, Description = "TokenBucketRateLimiter.AttemptAcquire")]
    public bool TokenBucket()
    {
        using var lease = _tokenBucket.AttemptAcquire(1);
        return lease.IsAcquired;
    }

    [Benchmark(Description = "RateLimitStrategy (sliding window, clock read included)")]
    public bool SlidingWindow() => _window.TryAcquire(_clock.NowMs);

    [Benchmark(Description = "RateLimitStrategy with warm-up")]
    public bool WarmUp() => _warmUp.TryAcquire(_clock.NowMs);

    [Benchmark(Description = "ConcurrencyLimitStrategy acquire + release")]
    public bool Concurrency()
    {
        bool acquired = _concurrency.TryAcquire();
        _concurrency.Release();
        return acquired;
    }
}
