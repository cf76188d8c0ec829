namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// A <c>ConcurrencyLimitStrategy</c> bound to one resource: at most <c>maxConcurrency</c>
/// requests inside at once. A permit is taken by compare-and-swap only while fewer than the
/// maximum are in flight, so the maximum holds exactly under any interleaving. The count
/// survives a hot reload: a lowered maximum admits nobody until enough permits come back.
/// </summary>
internal sealed class ConcurrencyLimiter
{
    private int _inFlight;
    private int _max;

    public ConcurrencyLimiter(int max)
    {
        _max = max;
    }

    public int InFlight => Volatile.Read(ref _inFlight);

    public bool TryAcquire()
    {
        int max = Volatile.Read(ref _max);
        while (true)
        {
            int current = Volatile.Read(ref _inFlight);
            if (current >= max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _inFlight, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Observe mode: always takes a permit (the request goes in regardless) and tells whether
    /// enforcing would have rejected it.
    /// </summary>
    public bool AcquireObserving() => Interlocked.Increment(ref _inFlight) > Volatile.Read(ref _max);

    public void Release() => Interlocked.Decrement(ref _inFlight);

    public void Reconfigure(int max) => Volatile.Write(ref _max, max);
}
