using Governor.Plugins.Throttle.Limiting;
using Xunit;

namespace Governor.Plugins.Throttle.Tests;

public sealed class QueueAndConcurrencyTests
{
    private const long Ms = 10_000; // TimeSpan ticks

    [Fact]
    public void Reserve_BurstAtOneInstant_SpacesSlotsByIntervalAndRejectsBeyondTimeout()
    {
        var queue = new UniformQueue(20 * Ms, 500 * Ms);
        long now = 1_000_000 * Ms;

        var waits = Enumerable.Range(0, 40).Select(_ => queue.Reserve(now)).ToList();

        // Slots at 0, 20, ..., 500 ms: 26 admitted, the rest would wait longer than 500 ms.
        Assert.Equal(Enumerable.Range(0, 26).Select(i => i * 20 * Ms), waits.Take(26));
        Assert.All(waits.Skip(26), w => Assert.Equal(UniformQueue.Rejected, w));
    }

    [Fact]
    public void Reserve_RejectedRequest_TakesNoSlot()
    {
        var queue = new UniformQueue(100 * Ms, 100 * Ms);
        long now = 1_000_000 * Ms;
        Assert.Equal(0, queue.Reserve(now));
        Assert.Equal(100 * Ms, queue.Reserve(now));
        Assert.Equal(UniformQueue.Rejected, queue.Reserve(now));

        // 100 ms later the next free slot is 200 ms from the start: a 100 ms wait, within the timeout.
        Assert.Equal(100 * Ms, queue.Reserve(now + (100 * Ms)));
    }

    [Fact]
    public void Reserve_AfterIdle_PassesImmediately()
    {
        var queue = new UniformQueue(20 * Ms, 0);
        long now = 1_000_000 * Ms;
        Assert.Equal(0, queue.Reserve(now));
        Assert.Equal(UniformQueue.Rejected, queue.Reserve(now + (5 * Ms)));

        Assert.Equal(0, queue.Reserve(now + (20 * Ms)));
        Assert.Equal(0, queue.Reserve(now + (45 * Ms)));
    }

    [Fact]
    public void Reserve_TwoThreads_HandOutDistinctSlots()
    {
        var queue = new UniformQueue(1, long.MaxValue / 4);
        var slots = new System.Collections.Concurrent.ConcurrentBag<long>();
        Parallel.For(0, 2, _ =>
        {
            for (int i = 0; i < 50_000; i++)
            {
                slots.Add(queue.Reserve(1000));
            }
        });

        Assert.Equal(100_000, slots.Distinct().Count());
        Assert.Equal(99_999, slots.Max());
    }

    [Fact]
    public void TryAcquire_ParallelLoad_NeverExceedsMaxAndNeverLeaks()
    {
        var limiter = new ConcurrencyLimiter(5);
        int inside = 0;
        int maxInside = 0;
        int admitted = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                if (!limiter.TryAcquire())
                {
                    continue;
                }

                int now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                Interlocked.Increment(ref admitted);
                Thread.SpinWait(20);
                Interlocked.Decrement(ref inside);
                limiter.Release();
            }
        });

        Assert.InRange(maxInside, 1, 5);
        Assert.True(admitted > 0);
        Assert.Equal(0, limiter.InFlight);
    }

    [Fact]
    public void Reconfigure_LowerMax_AdmitsNobodyUntilPermitsReturn()
    {
        var limiter = new ConcurrencyLimiter(5);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(limiter.TryAcquire());
        }

        limiter.Reconfigure(2);
        Assert.False(limiter.TryAcquire());
        limiter.Release();
        limiter.Release();
        Assert.False(limiter.TryAcquire());
        limiter.Release();
        Assert.True(limiter.TryAcquire());
    }

    [Fact]
    public void AcquireObserving_OverMax_ReportsWouldRejectButCounts()
    {
        var limiter = new ConcurrencyLimiter(1);

        Assert.False(limiter.AcquireObserving());
        Assert.True(limiter.AcquireObserving());
        Assert.Equal(2, limiter.InFlight);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
