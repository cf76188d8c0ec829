using Governor.Plugins.Throttle.Limiting;
using Xunit;

namespace Governor.Plugins.Throttle.Tests;

public sealed class SlidingWindowTests
{
    // Whole seconds from an origin far from zero; buckets are 100 ms.
    private const long T0 = 1_000_000_000;

    [Fact]
    public void TryAcquire_BurstAtEndOfWindow_IsNotDoubledAcrossTheEdge()
    {
        var window = new SlidingWindow(1000);
        Assert.Equal(100, Admit(window, T0 + 999, 150, 100));

        // A fixed window would start afresh at T0 + 1000 and admit 100 more right away.
        Assert.Equal(0, Admit(window, T0 + 1000, 10, 100));
        Assert.Equal(0, Admit(window, T0 + 1899, 10, 100));
    }

    [Fact]
    public void TryAcquire_OldestBucketLeaves_FreesItsCountWhole()
    {
        var window = new SlidingWindow(1000);
        Assert.Equal(60, Admit(window, T0 + 50, 60, 100));
        Assert.Equal(40, Admit(window, T0 + 950, 60, 100));

        // At T0 + 1000 the bucket [T0, T0 + 100) leaves: its 60 come back, the 40 of [T0 + 900, T0 + 1000) stay.
        Assert.Equal(0, Admit(window, T0 + 999, 5, 100));
        Assert.Equal(60, Admit(window, T0 + 1000, 100, 100));
        Assert.Equal(40, Admit(window, T0 + 1900, 100, 100));
    }

    [Fact]
    public void TryAcquire_UniformOverloadForTenSeconds_AdmitsThresholdPerSecond()
    {
        var window = new SlidingWindow(1000);
        int admitted = 0;
        int[] perSecond = new int[10];

        // 400 requests per second, one every 2.5 ms, for 10 s.
        for (int i = 0; i < 4000; i++)
        {
            long now = T0 + (i * 5 / 2);
            if (window.TryAcquire(now, 100))
            {
                admitted++;
                perSecond[(now - T0) / 1000]++;
            }
        }

        Assert.Equal(1000, admitted);
        Assert.All(perSecond, n => Assert.Equal(100, n));
    }

    [Fact]
    public void TryAcquire_AnyOneSecondSpan_HoldsAtMostLimitPlusOneBucket()
    {
        var window = new SlidingWindow(1000);
        var admittedAt = new List<long>();
        var random = new Random(7);
        long now = T0;
        for (int i = 0; i < 20_000; i++)
        {
            now += random.Next(0, 3);
            if (window.TryAcquire(now, 50))
            {
                admittedAt.Add(now);
            }
        }

        // Sliding over every admission: the span [t - 999, t] never holds more than the limit
        // plus one bucket's share, and a span starting on a bucket edge never more than the limit.
        int worst = 0;
        int start = 0;
        for (int end = 0; end < admittedAt.Count; end++)
        {
            while (admittedAt[start] < admittedAt[end] - 999)
            {
                start++;
            }

            worst = Math.Max(worst, end - start + 1);
        }

        Assert.InRange(worst, 50, 100);
        for (long edge = T0; edge < now; edge += 100)
        {
            int inWindow = admittedAt.Count(t => t >= edge && t < edge + 1000);
            Assert.True(inWindow <= 50, $"{inWindow} admitted in [{edge - T0}, {edge - T0 + 1000}) ms");
        }
    }

    [Fact]
    public void TryAcquire_AfterLongIdle_IgnoresStaleSlots()
    {
        var window = new SlidingWindow(1000);
        Assert.Equal(100, Admit(window, T0, 100, 100));

        // A day later every slot holds a bucket far outside the window.
        Assert.Equal(100, Admit(window, T0 + 86_400_000, 150, 100));
    }

    [Fact]
    public void TryAcquire_BucketNumberWrapsPast32Bits_KeepsCountingTheWindow()
    {
        var window = new SlidingWindow(1000);
        long wrap = (1L << 32) * 100;
        Assert.Equal(30, Admit(window, wrap - 150, 30, 100));
        Assert.Equal(70, Admit(window, wrap + 50, 100, 100));
        Assert.Equal(0, Admit(window, wrap + 799, 10, 100));
        Assert.Equal(30, Admit(window, wrap + 800, 100, 100));
    }

    [Fact]
    public void TryAcquire_TwoThreadsInOneBucket_AdmitExactlyTheLimit()
    {
        var window = new SlidingWindow(1000);
        int admitted = 0;
        using var start = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < 200_000; i++)
            {
                if (window.TryAcquire(T0 + 10, 100_000))
                {
                    Interlocked.Increment(ref admitted);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(100_000, admitted);
        Assert.Equal(100_000, window.Count(T0 + 10));
    }

    [Fact]
    public void Refund_RequestOfAnEarlierBucket_FreesItsPlaceInTheWindow()
    {
        var window = new SlidingWindow(1000);
        Assert.Equal(10, Admit(window, T0 + 50, 10, 10));
        Assert.Equal(0, Admit(window, T0 + 150, 1, 10));

        // Taken back from the earlier bucket: the cached sum of earlier buckets must not hide it.
        window.Refund(T0 + 50);

        Assert.Equal(1, Admit(window, T0 + 150, 5, 10));
        Assert.Equal(10, window.Count(T0 + 150));
    }

    [Fact]
    public void Refund_BucketAlreadyGone_ChangesNothing()
    {
        var window = new SlidingWindow(1000);
        Assert.Equal(10, Admit(window, T0 + 50, 10, 10));

        window.Refund(T0 - 5000);

        Assert.Equal(10, window.Count(T0 + 50));
    }

    [Fact]
    public void TryAcquire_ZeroLimit_AdmitsNothing()
    {
        var window = new SlidingWindow(1000);

        Assert.Equal(0, Admit(window, T0, 10, 0));
    }

    [Fact]
    public void TryAcquire_LongWindow_UsesTenBucketsOfTheWindow()
    {
        var window = new SlidingWindow(60_000);
        long minute = 60_000L * 16_666;
        Assert.Equal(6000, window.BucketMs);
        Assert.Equal(10, Admit(window, minute, 20, 10));
        Assert.Equal(0, Admit(window, minute + 59_999, 20, 10));
        Assert.Equal(10, Admit(window, minute + 60_000, 20, 10));
    }

    private static int Admit(SlidingWindow window, long nowMs, int requests, long limit)
    {
        int admitted = 0;
        for (int i = 0; i < requests; i++)
        {
            if (window.TryAcquire(nowMs, limit))
            {
                admitted++;
            }
        }

        return admitted;
    }
}
