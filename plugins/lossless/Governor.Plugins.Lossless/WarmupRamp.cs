using System.Diagnostics;
using System.Globalization;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The traffic ramp after readiness (MSE's warmupTime, Dubbo's warm-up weight). A young instance
/// advertises a weight from 1 to 100 (<c>x-governor-weight</c>) that grows with its uptime since
/// readiness: Dubbo's formula <c>weight * uptime / warmup</c> (at least 1), raised to a
/// configurable exponent (1 = linear, 2 = quadratic: a slower start). The same fraction sizes the
/// optional inbound concurrency cap. Reads only a Stopwatch timestamp: no allocation.
/// </summary>
internal sealed class WarmupRamp
{
    public const string WeightHeader = "x-governor-weight";

    // "1" .. "100", built once: the request path never formats a number.
    private static readonly string[] s_weightTexts = Enumerable.Range(0, 101).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    private readonly LosslessState _state;
    private readonly long _durationTicks;
    private readonly double _curve;
    private readonly int _maxConcurrency;
    private readonly int _minConcurrency;
    private int _over;

    public WarmupRamp(LosslessState state, TimeSpan duration, double curve, int maxConcurrency, int minConcurrency)
    {
        _state = state;
        _durationTicks = (long)(duration.TotalSeconds * Stopwatch.Frequency);
        _curve = curve;
        _maxConcurrency = maxConcurrency;
        _minConcurrency = Math.Min(Math.Max(1, minConcurrency), Math.Max(1, maxConcurrency));
    }

    public bool CapsConcurrency => _maxConcurrency > 0 && _durationTicks > 0;

    /// <summary>
    /// True once the ramp is over (or off): the request path then skips the clock, which costs
    /// tens of nanoseconds on a virtual machine (docs/performance-lossless.md).
    /// </summary>
    public bool IsOver => _durationTicks <= 0 || Volatile.Read(ref _over) != 0;

    /// <summary>True while the instance is ready and younger than the warm-up time.</summary>
    public bool IsRamping(long now)
    {
        if (Volatile.Read(ref _over) != 0 || _durationTicks <= 0)
        {
            return false;
        }

        long since = _state.ReadySince;
        if (since == 0)
        {
            return false;
        }

        if (now - since >= _durationTicks)
        {
            // Once over, it stays over: later requests skip the arithmetic.
            Volatile.Write(ref _over, 1);
            return false;
        }

        return true;
    }

    /// <summary>The fraction of full traffic, 0..1, at <paramref name="now"/> (1 when not ramping).</summary>
    public double Fraction(long now)
    {
        long since = _state.ReadySince;
        if (_durationTicks <= 0 || since == 0)
        {
            return since == 0 ? 0 : 1;
        }

        return Curve(now - since, _durationTicks, _curve);
    }

    /// <summary>(uptime / warmup) ^ curve, clamped to 0..1.</summary>
    public static double Curve(long elapsedTicks, long durationTicks, double curve)
    {
        if (durationTicks <= 0 || elapsedTicks >= durationTicks)
        {
            return 1;
        }

        if (elapsedTicks <= 0)
        {
            return 0;
        }

        double linear = elapsedTicks / (double)durationTicks;
        return curve == 1.0 ? linear : Math.Pow(linear, curve);
    }

    /// <summary>Dubbo's weight on a 1..100 scale: never 0, so a young instance still gets a trickle.</summary>
    public static int WeightPercent(double fraction) => Math.Clamp((int)(fraction * 100), 1, 100);

    public string WeightText(long now) => s_weightTexts[WeightPercent(Fraction(now))];

    /// <summary>The concurrency cap now: from the minimum up to the maximum along the curve.</summary>
    public int Capacity(long now)
    {
        if (!CapsConcurrency || !IsRamping(now))
        {
            return int.MaxValue;
        }

        int cap = (int)Math.Ceiling(_maxConcurrency * Fraction(now));
        return Math.Max(_minConcurrency, cap);
    }
}
