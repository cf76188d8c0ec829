namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// A <c>ThrottlingStrategy</c> bound to one resource: Sentinel's uniform rate ("leaky bucket"
/// queueing). Every admitted request gets the next free time slot, one
/// <c>minIntervalOfRequests</c> after the previous one; it waits until its slot, unless the
/// wait would exceed <c>queueTimeout</c>, in which case it is rejected and takes no slot.
/// The last slot handed out is one 64-bit timestamp moved forward by compare-and-swap, so the
/// decision is lock-free; only the requests that must wait cost a timer.
/// <para>
/// A request whose caller goes away while it waits gives its slot back (<see cref="Release"/>).
/// The last slot moves the tail back (and on through slots given back just before it), so
/// nobody waits behind requests that are gone. A slot with live requests after it stays a gap
/// that is kept (up to <see cref="GapCapacity"/> at once) for the next request that arrives
/// before the gap's time: taking a given-back slot keeps the spacing, since that slot was
/// spaced from its neighbours when it was handed out. Gaps cost the common path one read of
/// a counter that is zero.
/// </para>
/// </summary>
internal sealed class UniformQueue
{
    /// <summary>What <see cref="Reserve"/> returns for a request that is rejected.</summary>
    public const long Rejected = -1;

    /// <summary>How many given-back slots in the middle of the queue are kept for reuse at once.</summary>
    public const int GapCapacity = 16;

    private const long NoSlot = long.MinValue;

    private readonly long[] _gaps = CreateGaps();
    private long _intervalTicks;
    private long _timeoutTicks;
    private long _lastSlot = NoSlot;
    private int _gapCount;

    public UniformQueue(long intervalTicks, long timeoutTicks)
    {
        Reconfigure(intervalTicks, timeoutTicks);
    }

    /// <summary>Given-back slots waiting for reuse (for tests and status).</summary>
    public int Gaps => Volatile.Read(ref _gapCount);

    /// <summary>
    /// Takes the next slot: 0 when the request may go now, the ticks to wait before it may
    /// go, or <see cref="Rejected"/> when the wait would exceed the queue timeout.
    /// </summary>
    public long Reserve(long now)
    {
        long interval = Volatile.Read(ref _intervalTicks);
        long timeout = Volatile.Read(ref _timeoutTicks);
        if (Volatile.Read(ref _gapCount) != 0)
        {
            long gapWait = TakeGap(now, timeout);
            if (gapWait > 0)
            {
                return gapWait;
            }
        }

        while (true)
        {
            long last = Volatile.Read(ref _lastSlot);
            long next = last == NoSlot ? now : last + interval;
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

    /// <summary>
    /// Gives back the slot <paramref name="slot"/> (the time a waiting request was to go) of a
    /// request that will not go: its caller went away while it waited.
    /// </summary>
    public void Release(long slot)
    {
        long interval = Volatile.Read(ref _intervalTicks);
        long current = slot;
        while (Interlocked.CompareExchange(ref _lastSlot, current - interval, current) == current)
        {
            // It was the last slot: the tail moved back. Keep going while the slot before it
            // was given back too, so a queue whose waiters all left becomes empty again.
            long previous = current - interval;
            if (!TryTakeGap(previous))
            {
                return;
            }

            current = previous;
        }

        // Not the last slot (any more): later requests wait for theirs, so it stays a gap.
        AddGap(current);
    }

    public void Reconfigure(long intervalTicks, long timeoutTicks)
    {
        Volatile.Write(ref _intervalTicks, intervalTicks);
        Volatile.Write(ref _timeoutTicks, timeoutTicks);
    }

    private static long[] CreateGaps()
    {
        var gaps = new long[GapCapacity];
        Array.Fill(gaps, NoSlot);
        return gaps;
    }

    /// <summary>Takes the earliest gap still ahead and within the timeout; returns its wait, or 0 for none. Drops gaps already past.</summary>
    private long TakeGap(long now, long timeout)
    {
        var gaps = _gaps;
        for (int attempt = 0; attempt < 4; attempt++)
        {
            int best = -1;
            long bestSlot = long.MaxValue;
            for (int i = 0; i < gaps.Length; i++)
            {
                long gap = Volatile.Read(ref gaps[i]);
                if (gap == NoSlot)
                {
                    continue;
                }

                if (gap <= now)
                {
                    // Its time passed unused: taking it now could break the spacing.
                    if (Interlocked.CompareExchange(ref gaps[i], NoSlot, gap) == gap)
                    {
                        Interlocked.Decrement(ref _gapCount);
                    }
                }
                else if (gap < bestSlot && gap - now <= timeout)
                {
                    best = i;
                    bestSlot = gap;
                }
            }

            if (best < 0)
            {
                return 0;
            }

            if (Interlocked.CompareExchange(ref gaps[best], NoSlot, bestSlot) == bestSlot)
            {
                Interlocked.Decrement(ref _gapCount);
                return bestSlot - now;
            }
        }

        return 0;
    }

    private bool TryTakeGap(long slot)
    {
        var gaps = _gaps;
        for (int i = 0; i < gaps.Length; i++)
        {
            if (Volatile.Read(ref gaps[i]) == slot && Interlocked.CompareExchange(ref gaps[i], NoSlot, slot) == slot)
            {
                Interlocked.Decrement(ref _gapCount);
                return true;
            }
        }

        return false;
    }

    private void AddGap(long slot)
    {
        var gaps = _gaps;
        for (int i = 0; i < gaps.Length; i++)
        {
            if (Interlocked.CompareExchange(ref gaps[i], slot, NoSlot) == NoSlot)
            {
                Interlocked.Increment(ref _gapCount);
                return;
            }
        }

        // Full: this slot stays a gap of one interval in the queue, as in Sentinel.
    }
}
