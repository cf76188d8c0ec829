using Governor.Plugins.Throttle.Limiting;
using Xunit;

namespace Governor.Plugins.Throttle.Tests;

public sealed class WarmUpTests
{
    private const long T0 = 1_000_000_000;

    [Theory]
    [InlineData(100, 10, 3)]
    [InlineData(200, 5, 4)]
    [InlineData(50, 20, 3)]
    public void TryAcquire_SaturatingLoad_FollowsSentinelCurvePerSecondWithin10Percent(int threshold, int period, int coldFactor)
    {
        int seconds = period + 5;
        var limiter = new WindowRateLimiter(1000, threshold, period, coldFactor);

        int[] offered = Enumerable.Repeat(threshold * 4, seconds).ToArray();
        int[] admitted = Offer(limiter, T0, offered);
        int[] expected = SentinelCurve(threshold, period, coldFactor, offered);

        AssertWithin10Percent(admitted, expected);

        // The shape: starts near threshold/coldFactor, rises, and reaches the threshold.
        Assert.InRange(admitted[0], (threshold / coldFactor) - 1, (threshold / coldFactor) + 1);
        Assert.True(admitted.Zip(admitted.Skip(1)).All(p => p.Second >= p.First), string.Join(",", admitted));
        Assert.Equal(threshold, admitted[^1]);
    }

    [Fact]
    public void TryAcquire_IdleAfterWarmUp_StartsColdAgain()
    {
        var limiter = new WindowRateLimiter(1000, 100, 10, 3);
        int[] warm = Offer(limiter, T0, 400, 20);
        Assert.Equal(100, warm[^1]);

        int[] again = Offer(limiter, T0 + 120_000, 400, 2);

        Assert.InRange(again[0], 32, 34);
    }

    [Fact]
    public void TryAcquire_WarmThenLightThenHeavy_CoolsPartlyAsSentinelDoes()
    {
        var limiter = new WindowRateLimiter(1000, 100, 10, 3);
        int[] offered = Enumerable.Repeat(400, 20).Concat(Enumerable.Repeat(50, 5)).Concat(Enumerable.Repeat(20, 3)).Concat(Enumerable.Repeat(400, 8)).ToArray();

        int[] admitted = Offer(limiter, T0, offered);
        int[] expected = SentinelCurve(100, 10, 3, offered);

        // Traffic under the threshold refills the bucket; under threshold/coldFactor it keeps
        // refilling above the warning line, so the service cools and must warm up again.
        AssertWithin10Percent(admitted, expected);
        Assert.True(admitted[28] < 100, string.Join(",", admitted));
        Assert.True(admitted[28] > 34, string.Join(",", admitted));
    }

    [Fact]
    public void Reconfigure_SameWarmUpNewThreshold_KeepsTheCurveGoing()
    {
        var limiter = new WindowRateLimiter(1000, 100, 10, 3);
        Offer(limiter, T0, 400, 5);
        long tokens = limiter.WarmUp!.StoredTokens;

        limiter.Reconfigure(150, 10, 3);

        // Not a cold restart: the stored tokens stay, only the rate they map to changes.
        Assert.Equal(tokens, limiter.WarmUp!.StoredTokens);
        int[] next = Offer(limiter, T0 + 5000, 600, 1);
        Assert.InRange(next[0], 51, 149);
    }

    [Fact]
    public void TryAcquire_WarmUpWithZeroThreshold_AdmitsNothing()
    {
        var limiter = new WindowRateLimiter(1000, 0, 10, 3);

        Assert.Equal(0, Offer(limiter, T0, 100, 2).Sum());
    }

    private static int[] Offer(WindowRateLimiter limiter, long start, int perSecond, int seconds) => Offer(limiter, start, Enumerable.Repeat(perSecond, seconds).ToArray());

    /// <summary>Offers uniform load, offered[s] requests in second s, and returns the admitted count of each second.</summary>
    private static int[] Offer(WindowRateLimiter limiter, long start, int[] offered)
    {
        var admitted = new int[offered.Length];
        for (int s = 0; s < offered.Length; s++)
        {
            for (int i = 0; i < offered[s]; i++)
            {
                long now = start + (s * 1000L) + (i * 1000L / offered[s]);
                if (limiter.TryAcquire(now))
                {
                    admitted[s]++;
                }
            }
        }

        return admitted;
    }

    private static void AssertWithin10Percent(int[] admitted, int[] expected)
    {
        for (int s = 0; s < admitted.Length; s++)
        {
            Assert.True(Math.Abs(admitted[s] - expected[s]) <= Math.Max(1, expected[s] / 10.0), $"second {s}: admitted {admitted[s]}, Sentinel's curve {expected[s]} (all: {string.Join(",", admitted)} vs {string.Join(",", expected)})");
        }
    }

    /// <summary>
    /// Sentinel's warm-up, computed here independently of the plugin from its published formula:
    /// warningToken = period·count/(coldFactor−1), maxToken = warningToken + 2·period·count/(1+coldFactor),
    /// slope = (coldFactor−1)/count/(maxToken−warningToken); the bucket starts full; each second
    /// the admitted rate above the warning line is 1/((tokens−warningToken)·slope + 1/count), else
    /// count; then tokens are refilled by count (below the warning line, or above it when the
    /// second's traffic was under count/coldFactor) and reduced by what the second admitted.
    /// </summary>
    internal static int[] SentinelCurve(double count, int period, int coldFactor, int[] offered)
    {
        int seconds = offered.Length;
        long warning = (long)(period * count) / (coldFactor - 1);
        long max = warning + (long)(2 * period * count / (1.0 + coldFactor));
        double slope = (coldFactor - 1.0) / count / (max - warning);
        long tokens = max;
        var curve = new int[seconds];
        for (int s = 0; s < seconds; s++)
        {
            double rate = tokens >= warning ? 1.0 / (((tokens - warning) * slope) + (1.0 / count)) : count;
            int admitted = Math.Min(offered[s], (int)Math.Floor(rate + 1e-9));
            curve[s] = admitted;
            bool refill = tokens < warning || (tokens > warning && admitted < (int)count / coldFactor);
            if (refill)
            {
                tokens = Math.Min(max, tokens + (long)count);
            }

            tokens = Math.Max(0, tokens - admitted);
        }

        return curve;
    }
}
