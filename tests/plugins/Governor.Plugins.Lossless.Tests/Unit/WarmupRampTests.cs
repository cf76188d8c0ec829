using System.Diagnostics;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class WarmupRampTests
{
    private static readonly long s_second = Stopwatch.Frequency;

    [Theory]
    [InlineData(0, 1.0, 0.0)]
    [InlineData(30, 1.0, 0.25)]
    [InlineData(60, 1.0, 0.5)]
    [InlineData(60, 2.0, 0.25)]
    [InlineData(90, 2.0, 0.5625)]
    [InlineData(120, 1.0, 1.0)]
    [InlineData(500, 2.0, 1.0)]
    public void Curve_UptimeOverWarmupTime_DubboLinearRaisedToTheCurve(int seconds, double curve, double expected)
    {
        Assert.Equal(expected, WarmupRamp.Curve(seconds * s_second, 120 * s_second, curve), 6);
    }

    [Theory]
    [InlineData(0.0, 1)]
    [InlineData(0.004, 1)]
    [InlineData(0.37, 37)]
    [InlineData(1.0, 100)]
    public void WeightPercent_AnyFraction_NeverZeroAtMostHundred(double fraction, int expected)
    {
        Assert.Equal(expected, WarmupRamp.WeightPercent(fraction));
    }

    [Fact]
    public void Capacity_DuringTheRamp_GrowsFromTheMinimumToTheMaximumThenUncapped()
    {
        var state = new LosslessState();
        var ramp = new WarmupRamp(state, TimeSpan.FromSeconds(100), 1.0, maxConcurrency: 40, minConcurrency: 2);
        Assert.Equal(int.MaxValue, ramp.Capacity(Stopwatch.GetTimestamp()));
        Assert.False(ramp.IsRamping(Stopwatch.GetTimestamp()));

        state.Advance(LosslessPhase.Ready);
        long ready = state.ReadySince;

        Assert.Equal(2, ramp.Capacity(ready));
        Assert.Equal(10, ramp.Capacity(ready + (25 * s_second)));
        Assert.Equal("25", ramp.WeightText(ready + (25 * s_second)));
        Assert.Equal(30, ramp.Capacity(ready + (74 * s_second) + 1));
        Assert.True(ramp.IsRamping(ready + (99 * s_second)));
        Assert.Equal(int.MaxValue, ramp.Capacity(ready + (100 * s_second)));
        Assert.False(ramp.IsRamping(ready + (100 * s_second)));
        Assert.False(ramp.IsRamping(ready), "once over, the ramp stays over");
    }

    [Fact]
    public void Ramp_ZeroWarmupTime_NeverRampsNorCaps()
    {
        var state = new LosslessState();
        var ramp = new WarmupRamp(state, TimeSpan.Zero, 1.0, maxConcurrency: 10, minConcurrency: 1);
        state.Advance(LosslessPhase.Ready);

        Assert.False(ramp.CapsConcurrency);
        Assert.False(ramp.IsRamping(Stopwatch.GetTimestamp()));
        Assert.Equal(int.MaxValue, ramp.Capacity(Stopwatch.GetTimestamp()));
    }
}
