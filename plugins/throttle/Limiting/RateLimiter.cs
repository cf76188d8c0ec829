namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// One <c>RateLimitStrategy</c> bound to one resource: a <see cref="SlidingWindow"/> and its
/// limit, which is either the threshold or, during warm-up, the rate the warm-up curve allows
/// now. Reconfiguring keeps the window, so a threshold lowered by a hot reload (100 → 20)
/// applies to the requests already counted in the current window.
/// </summary>
internal sealed class WindowRateLimiter
{
    private readonly SlidingWindow _window;
    private long _threshold;
    private WarmUpCurve? _warmUp;

    public WindowRateLimiter(long windowMs, long threshold, int? warmUpPeriodSec, int coldFactor)
    {
        _window = new SlidingWindow(windowMs);
        Reconfigure(threshold, warmUpPeriodSec, coldFactor);
    }

    public long WindowMs => _window.WindowMs;

    /// <summary>The warm-up state, or null without warm-up.</summary>
    public WarmUpCurve? WarmUp => Volatile.Read(ref _warmUp);

    public bool TryAcquire(long nowMs)
    {
        return _window.TryAcquire(nowMs, CurrentLimit(nowMs));
    }

    /// <summary>Takes back a request admitted at <paramref name="nowMs"/> that a later check rejected.</summary>
    public void Refund(long nowMs) => _window.Refund(nowMs);

    /// <summary>The limit that applies now (the warm-up rate while warming up).</summary>
    public long CurrentLimit(long nowMs)
    {
        long threshold = Volatile.Read(ref _threshold);
        var warmUp = Volatile.Read(ref _warmUp);

        // The curve never admits more than the threshold, and threshold 0 blocks everything.
        return warmUp is null ? threshold : Math.Min(threshold, warmUp.LimitAt(nowMs, _window));
    }

    /// <summary>
    /// Applies new settings in place. A warm-up whose period and cold factor stay keeps its
    /// stored tokens (only the rate changes); a new or changed warm-up starts cold, as a
    /// freshly configured Sentinel rule does.
    /// </summary>
    public void Reconfigure(long threshold, int? warmUpPeriodSec, int coldFactor)
    {
        Volatile.Write(ref _threshold, threshold);
        var old = Volatile.Read(ref _warmUp);
        if (warmUpPeriodSec is null)
        {
            Volatile.Write(ref _warmUp, null);
        }
        else if (old is not null && old.PeriodSec == warmUpPeriodSec && old.ColdFactor == coldFactor)
        {
            old.SetThreshold(threshold);
        }
        else
        {
            Volatile.Write(ref _warmUp, new WarmUpCurve(threshold, warmUpPeriodSec.Value, coldFactor));
        }
    }
}
