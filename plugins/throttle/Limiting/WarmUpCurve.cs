namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// Sentinel's warm-up (its WarmUpController, itself after Guava's SmoothWarmingUp), expressed as
/// a per-second limit for a one-second <see cref="SlidingWindow"/>.
///
/// A bucket of stored tokens measures how cold the service is. It starts full
/// (<c>maxToken</c>). Once per second the tokens the previous second admitted are taken out,
/// and tokens are added back at <c>threshold</c> per second while the bucket is below
/// <c>warningToken</c>, or above it while the traffic is lighter than threshold/coldFactor (the
/// service cools down again when idle). Above the warning line, the admitted rate is
/// <c>1 / ((stored - warningToken) * slope + 1 / threshold)</c>, which is threshold/coldFactor
/// when the bucket is full and reaches the threshold at the warning line; below it, the
/// threshold applies. With
/// <c>warningToken = period * threshold / (coldFactor - 1)</c>,
/// <c>maxToken = warningToken + 2 * period * threshold / (1 + coldFactor)</c> and
/// <c>slope = (coldFactor - 1) / threshold / (maxToken - warningToken)</c>, saturating traffic
/// drains the bucket from full to the warning line in about <c>period</c> seconds.
///
/// The per-second step runs once, on the first request of a new second, under a lock; every
/// other request compares its time with the end of the second and reads one volatile field.
/// </summary>
internal sealed class WarmUpCurve
{
    private const long NeverSynced = long.MinValue;

    private readonly object _gate = new();
    private double _threshold;
    private long _warningToken;
    private long _maxToken;
    private double _slope;
    private long _storedTokens;
    private long _lastSecond = NeverSynced;
    private long _secondEndMs = long.MinValue;
    private long _limit;

    public WarmUpCurve(long threshold, int periodSec, int coldFactor)
    {
        PeriodSec = periodSec;
        ColdFactor = coldFactor;
        Compute(threshold);
        _limit = Math.Max(1, threshold / coldFactor);
    }

    public int PeriodSec { get; }

    public int ColdFactor { get; }

    public long StoredTokens => Volatile.Read(ref _storedTokens);

    /// <summary>The limit for the one-second window at <paramref name="nowMs"/>.</summary>
    public long LimitAt(long nowMs, SlidingWindow window)
    {
        // One comparison on the common path; the division only once a second.
        if (nowMs >= Volatile.Read(ref _secondEndMs))
        {
            Step(nowMs / 1000, window);
        }

        return Volatile.Read(ref _limit);
    }

    public void SetThreshold(long threshold)
    {
        lock (_gate)
        {
            Compute(threshold);
            _storedTokens = Math.Min(_storedTokens, _maxToken);
            Volatile.Write(ref _limit, LimitFor(_storedTokens));
        }
    }

    private void Step(long second, SlidingWindow window)
    {
        lock (_gate)
        {
            long last = _lastSecond;
            if (last != NeverSynced && second <= last)
            {
                return;
            }

            // What the previous second admitted: the window's buckets of that second (its
            // buckets are 100 ms, so whole seconds are whole groups of ten).
            long bucketsPerSecond = 1000 / window.BucketMs;
            long previousPassed = window.Sum((second - 1) * bucketsPerSecond, (second * bucketsPerSecond) - 1);

            long stored = _storedTokens;
            bool refill = stored < _warningToken || (stored > _warningToken && previousPassed < (long)_threshold / ColdFactor);
            if (refill)
            {
                // Never synced: the service has been idle forever, so the bucket fills up.
                double elapsed = last == NeverSynced ? double.MaxValue : second - last;
                stored = (long)Math.Min(_maxToken, stored + (elapsed * _threshold));
            }

            stored = Math.Max(0, stored - previousPassed);
            _storedTokens = stored;
            Volatile.Write(ref _limit, LimitFor(stored));
            Volatile.Write(ref _lastSecond, second);
            Volatile.Write(ref _secondEndMs, (second + 1) * 1000);
        }
    }

    private long LimitFor(long stored)
    {
        if (stored < _warningToken || _maxToken <= _warningToken)
        {
            return (long)_threshold;
        }

        double rate = 1.0 / (((stored - _warningToken) * _slope) + (1.0 / _threshold));

        // A request is admitted while passed + 1 <= rate; the next representable double above
        // the rate keeps a whole-number rate (e.g. exactly 50) from losing its last request.
        return (long)Math.Floor(Math.BitIncrement(rate));
    }

    private void Compute(long threshold)
    {
        _threshold = Math.Max(1, threshold);
        _warningToken = (long)(PeriodSec * _threshold) / (ColdFactor - 1);
        _maxToken = _warningToken + (long)(2 * PeriodSec * _threshold / (1.0 + ColdFactor));
        _slope = _maxToken > _warningToken ? (ColdFactor - 1.0) / _threshold / (_maxToken - _warningToken) : 0;
    }
}
