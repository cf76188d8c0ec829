using System.Collections.Concurrent;
using System.Diagnostics;

namespace Governor.Plugins.Lossless;

/// <summary>
/// Caps inbound concurrency while the instance ramps up, queueing (never rejecting) what is over
/// the cap. Lock-free: admissions are a compare-and-swap on the active count; queued requests wait
/// in a <see cref="ConcurrentQueue{T}"/> and are admitted in order when a request finishes or
/// when the cap grows (a timer pumps while anything waits). A waiter that waits longer than the
/// queue timeout goes on anyway: the ramp may slow a request down, never fail it.
/// Invariant: every admitted request counted exactly once in <see cref="Active"/>, and
/// <see cref="Exit"/> called once for each.
/// </summary>
internal sealed class RampGate : IDisposable
{
    private readonly Func<long, int> _capacity;
    private readonly TimeSpan _queueTimeout;
    private readonly ConcurrentQueue<Waiter> _queue = new();
    private readonly Timer _pump;
    private int _active;
    private int _waiting;
    private int _maxActive;

    public RampGate(Func<long, int> capacity, TimeSpan queueTimeout)
    {
        _capacity = capacity;
        _queueTimeout = queueTimeout;
        _pump = new Timer(static s => ((RampGate)s!).Pump(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public int Active => Volatile.Read(ref _active);

    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>The highest concurrency admitted so far (status).</summary>
    public int MaxActive => Volatile.Read(ref _maxActive);

    public long TimedOut;

    /// <summary>Admits at once when under the cap (and nobody queues ahead).</summary>
    public bool TryEnter() => TryEnter(Stopwatch.GetTimestamp());

    /// <summary>The same, at a timestamp the caller already read (the request path reads the clock once).</summary>
    public bool TryEnter(long now) => _queue.IsEmpty && TryTake(now);

    /// <summary>Queues the caller; the task completes when admitted (true) or when the queue timeout passed (false).</summary>
    public Task<bool> EnterAsync()
    {
        var waiter = new Waiter(this);
        _queue.Enqueue(waiter);
        Interlocked.Increment(ref _waiting);
        waiter.Arm(_queueTimeout);
        // A request may have finished between the failed TryEnter and the enqueue: pump now so
        // that this waiter is never left behind with a free slot.
        Pump();
        _pump.Change(100, 100);
        return waiter.Task;
    }

    public void Exit()
    {
        Interlocked.Decrement(ref _active);
        if (!_queue.IsEmpty)
        {
            Pump();
        }
    }

    /// <summary>Admits queued requests while there is room (the cap grows with time too).</summary>
    public void Pump()
    {
        while (!_queue.IsEmpty)
        {
            if (!TryTake(Stopwatch.GetTimestamp()))
            {
                return;
            }

            if (!_queue.TryDequeue(out var waiter))
            {
                Interlocked.Decrement(ref _active);
                break;
            }

            Interlocked.Decrement(ref _waiting);
            if (!waiter.Admit())
            {
                // It timed out and went on by itself (it counted itself): give the slot back.
                Interlocked.Decrement(ref _active);
            }
        }

        if (_queue.IsEmpty)
        {
            _pump.Change(Timeout.Infinite, Timeout.Infinite);
        }
    }

    public void Dispose()
    {
        _pump.Dispose();
        // Never leave a request waiting on a stopped plugin.
        while (_queue.TryDequeue(out var waiter))
        {
            Interlocked.Decrement(ref _waiting);
            if (waiter.Admit())
            {
                Interlocked.Increment(ref _active);
            }
        }
    }

    private bool TryTake(long now)
    {
        int cap = _capacity(now);
        while (true)
        {
            int active = Volatile.Read(ref _active);
            if (active >= cap)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _active, active + 1, active) == active)
            {
                NoteMax(active + 1);
                return true;
            }
        }
    }

    private void NoteMax(int active)
    {
        int max = Volatile.Read(ref _maxActive);
        while (active > max)
        {
            int seen = Interlocked.CompareExchange(ref _maxActive, active, max);
            if (seen == max)
            {
                return;
            }

            max = seen;
        }
    }

    private void OnTimedOut()
    {
        // Counted as active although over the cap, so that its Exit balances.
        NoteMax(Interlocked.Increment(ref _active));
        Interlocked.Increment(ref TimedOut);
    }

    private sealed class Waiter
    {
        private readonly RampGate _gate;
        private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Timer? _timer;
        private int _state; // 0 waiting, 1 admitted, 2 timed out

        public Waiter(RampGate gate) => _gate = gate;

        public Task<bool> Task => _done.Task;

        public void Arm(TimeSpan timeout) => _timer = new Timer(static s => ((Waiter)s!).Expire(), this, timeout, Timeout.InfiniteTimeSpan);

        public bool Admit()
        {
            if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            {
                return false;
            }

            _timer?.Dispose();
            _done.TrySetResult(true);
            return true;
        }

        private void Expire()
        {
            if (Interlocked.CompareExchange(ref _state, 2, 0) != 0)
            {
                return;
            }

            _timer?.Dispose();
            _gate.OnTimedOut();
            _done.TrySetResult(false);
        }
    }
}
