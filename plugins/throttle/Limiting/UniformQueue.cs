namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// A <c>ThrottlingStrategy</c> bound to one resource: Sentinel's uniform rate ("leaky bucket"
/// queueing). Every admitted request gets the next free time slot, one
/// <c>minIntervalOfRequests</c> after the previous one; it waits until its slot, unless the
/// wait would exceed <c>queueTimeout</c>, in which case it is rejected and takes no slot.
/// The last slot handed out is one 64-bit timestamp moved forward by compare-and-swap, so the
/// decision is lock-free; only the requests that must wait cost a timer.
/// </summary>
internal sealed class UniformQueue
{
    /// <summary>What <see cref="Reserve"/> returns for a request that is rejected.</summary>
    public const long Rejected = -1;

    private const long NoSlotYet = long.MinValue;

    private long _intervalTicks;
    private long _timeoutTicks;
    private long _lastSlot = NoSlotYet;

    public UniformQueue(long intervalTicks, long timeoutTicks)
    {
        Reconfigure(intervalTicks, timeoutTicks);
    }

    /// <summary>
    /// Takes the next slot: 0 when the request may go now, the ticks to wait before it may
    /// go, or <see cref="Rejected"/> when the wait would exceed the queue timeout.
    /// </summary>
    public long Reserve(long now)
    {
        long interval = Volatile.Read(ref _intervalTicks);
        long timeout = Volatile.Read(ref _timeoutTicks);
        while (true)
        {
            long last = Volatile.Read(ref _lastSlot);
            long next = last == NoSlotYet ? now : last + interval;
            if (next <= now)
            {
                // Idle long enough: go now; the slot after this one is an interval from now.
                if (Interlocked.CompareExchange(ref _lastSlot, now, last) == last)
                {
                    return 0;
                }

                continue;
            }

            long wait = next - now;
            if (wait > timeout)
            {
                return Rejected;
            }

            if (Interlocked.CompareExchange(ref _lastSlot, next, last) == last)
            {
                return wait;
            }
        }
    }

    public void Reconfigure(long intervalTicks, long timeoutTicks)
    {
        Volatile.Write(ref _intervalTicks, intervalTicks);
        Volatile.Write(ref _timeoutTicks, timeoutTicks);
    }
}
