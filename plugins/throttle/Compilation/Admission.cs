using Governor.Plugins.Throttle.Limiting;

namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// The bindings one call matched (at most four: the path or host, its method- or port-qualified
/// form, and the route template or host path with theirs). A struct, so matching allocates nothing.
/// </summary>
internal struct Match
{
    private Binding? _b0;
    private Binding? _b1;
    private Binding? _b2;
    private Binding? _b3;

    public int Count { get; private set; }

    public readonly Binding this[int index] => index switch
    {
        0 => _b0!,
        1 => _b1!,
        2 => _b2!,
        _ => _b3!,
    };

    public void Add(Binding? binding)
    {
        if (binding is null)
        {
            return;
        }

        switch (Count++)
        {
            case 0: _b0 = binding; break;
            case 1: _b1 = binding; break;
            case 2: _b2 = binding; break;
            default: _b3 = binding; break;
        }
    }
}

/// <summary>
/// What the first step of an admission leaves for the second: which rate limits counted the
/// call (bit k for the k-th rate guard of the match, in order; guards past the 64th are not
/// tracked) and when, so that a call rejected later is taken back out of their windows; and
/// how long the call must wait for its queue slot.
/// </summary>
internal struct Ticket
{
    public long NowMs;
    public ulong Counted;
    public long WaitTicks;

    /// <summary>
    /// The slot each queue guard of the match handed out to a call that must wait (indexed by
    /// the guard's place among the match's queue guards; 0 where it did not wait), so that a
    /// call abandoned while it waits gives its slots back. Made only for calls that wait, which
    /// allocate a timer anyway.
    /// </summary>
    public long[]? Slots;
}

/// <summary>
/// The admission decision shared by the inbound and outbound handlers, in three steps:
/// rate limits (count and compare), queueing (take a slot; may ask the caller to wait), then
/// concurrency permits (taken last, after any wait, so a queued request holds no permit).
/// A call rejected by a later step is taken back out of the rate windows that counted it, so
/// that a window counts only calls that reached the app.
/// </summary>
internal static class Admission
{
    /// <summary>
    /// Rate limits and queue slots. Returns the guard that rejects the call, or null; then
    /// <see cref="Ticket.WaitTicks"/> &gt; 0 means the caller must wait that long before <see cref="Enter"/>.
    /// </summary>
    public static Guard? Check(in Match match, ThrottleClock clock, out Ticket ticket)
    {
        ticket = default;
        ticket.NowMs = -1;
        int k = 0;
        for (int i = 0; i < match.Count; i++)
        {
            var rates = match[i].Rates;
            for (int j = 0; j < rates.Length; j++, k++)
            {
                if (ticket.NowMs < 0)
                {
                    ticket.NowMs = clock.NowMs;
                }

                var guard = rates[j];
                if (guard.Limiter.TryAcquire(ticket.NowMs))
                {
                    if (k < 64)
                    {
                        ticket.Counted |= 1UL << k;
                    }
                }
                else if (guard.Reject())
                {
                    Refund(in match, in ticket);
                    return guard;
                }
            }
        }

        int q = 0;
        for (int i = 0; i < match.Count; i++)
        {
            var queues = match[i].Queues;
            for (int j = 0; j < queues.Length; j++, q++)
            {
                var guard = queues[j];
                long now = clock.Timestamp;
                long wait = guard.Queue.Reserve(now);
                if (wait == UniformQueue.Rejected)
                {
                    if (guard.Reject())
                    {
                        Abandon(in match, in ticket);
                        return guard;
                    }
                }
                else if (wait > 0 && !guard.Observe)
                {
                    ticket.WaitTicks = Math.Max(ticket.WaitTicks, wait);
                    (ticket.Slots ??= new long[QueueGuards(in match)])[q] = now + wait;
                    guard.Stats.AddQueued();
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Gives back everything <see cref="Check"/> took for a call that will not go: its rate
    /// counts, and the queue slots it was waiting for (its caller went away, or a later queue
    /// rejected it), so that the requests after it do not wait for a call that is gone.
    /// </summary>
    public static void Abandon(in Match match, in Ticket ticket)
    {
        Refund(in match, in ticket);
        if (ticket.Slots is not { } slots)
        {
            return;
        }

        for (int i = 0, q = 0; i < match.Count; i++)
        {
            var queues = match[i].Queues;
            for (int j = 0; j < queues.Length; j++, q++)
            {
                if (slots[q] != 0)
                {
                    queues[j].Queue.Release(slots[q]);
                }
            }
        }
    }

    private static int QueueGuards(in Match match)
    {
        int count = 0;
        for (int i = 0; i < match.Count; i++)
        {
            count += match[i].Queues.Length;
        }

        return count;
    }

    /// <summary>
    /// Takes the concurrency permits and counts the call as passed. Returns the guard that
    /// rejects it (after giving back the permits already taken and the rate counts), or null.
    /// </summary>
    public static Guard? Enter(in Match match, in Ticket ticket)
    {
        for (int i = 0; i < match.Count; i++)
        {
            var guards = match[i].Concurrency;
            for (int j = 0; j < guards.Length; j++)
            {
                var guard = guards[j];
                if (guard.Observe)
                {
                    if (guard.Limiter.AcquireObserving())
                    {
                        guard.Reject();
                    }
                }
                else if (!guard.Limiter.TryAcquire())
                {
                    guard.Reject();
                    ReleaseTaken(in match, i, j);
                    Refund(in match, in ticket);
                    return guard;
                }
            }
        }

        for (int i = 0; i < match.Count; i++)
        {
            match[i].Stats.AddPassed();
        }

        return null;
    }
    /// <summary>
    /// What the call must carry to its completion to give its permits back: null without
    /// permits, the one binding that holds them (the common case, no allocation), or an array
    /// when several matched bindings limit concurrency.
    /// </summary>
    public static object? PermitState(in Match match)
    {
        Binding? single = null;
        int count = 0;
        for (int i = 0; i < match.Count; i++)
        {
            if (match[i].Concurrency.Length != 0)
            {
                single ??= match[i];
                count++;
            }
        }

        if (count <= 1)
        {
            return single;
        }

        var all = new Binding[count];
        int k = 0;
        for (int i = 0; i < match.Count; i++)
        {
            if (match[i].Concurrency.Length != 0)
            {
                all[k++] = match[i];
            }
        }

        return all;
    }

    /// <summary>Gives back the permits described by a <see cref="PermitState"/>.</summary>
    public static void Release(object? state)
    {
        switch (state)
        {
            case Binding binding:
                Release(binding, binding.Concurrency.Length);
                break;
            case Binding[] bindings:
                foreach (var binding in bindings)
                {
                    Release(binding, binding.Concurrency.Length);
                }

                break;
        }
    }

    /// <summary>Takes the call back out of the rate windows that counted it (it will not reach the app).</summary>
    public static void Refund(in Match match, in Ticket ticket)
    {
        ulong counted = ticket.Counted;
        for (int i = 0, k = 0; i < match.Count && counted != 0; i++)
        {
            var rates = match[i].Rates;
            for (int j = 0; j < rates.Length; j++, k++)
            {
                if (k < 64 && (counted & (1UL << k)) != 0)
                {
                    rates[j].Limiter.Refund(ticket.NowMs);
                    counted &= ~(1UL << k);
                }
            }
        }
    }

    private static void ReleaseTaken(in Match match, int failedBinding, int failedGuard)
    {
        for (int i = 0; i <= failedBinding; i++)
        {
            Release(match[i], i == failedBinding ? failedGuard : match[i].Concurrency.Length);
        }
    }

    private static void Release(Binding binding, int guards)
    {
        var concurrency = binding.Concurrency;
        for (int j = 0; j < guards; j++)
        {
            concurrency[j].Limiter.Release();
        }
    }
}
