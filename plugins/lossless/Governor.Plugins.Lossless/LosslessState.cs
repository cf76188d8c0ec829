using System.Diagnostics;

namespace Governor.Plugins.Lossless;

/// <summary>Where the instance is in its life. Only moves forward.</summary>
internal enum LosslessPhase
{
    /// <summary>The process runs; the web host has not started yet.</summary>
    Starting = 0,

    /// <summary>The host has started; handlers are precompiled and warm-up requests sent.</summary>
    WarmingUp = 1,

    /// <summary>Warm-up done; the optional startup delay (MSE delayTime) runs.</summary>
    Delaying = 2,

    /// <summary>Readiness passes.</summary>
    Ready = 3,

    /// <summary>Stop requested: readiness fails, requests are still served, each with Connection: close and the notice.</summary>
    Draining = 4,

    /// <summary>The server no longer accepts connections; in-flight requests are awaited.</summary>
    Stopping = 5,

    /// <summary>In-flight requests are done (or the shutdown timeout passed).</summary>
    Stopped = 6,
}

/// <summary>
/// The instance's state shared by the probe server, the inbound handler, the online and offline
/// sequences and the status: the phase (one int, changed by compare-and-swap, read with a
/// volatile read on every request) and plain counters updated with <see cref="Interlocked"/>.
/// </summary>
internal sealed class LosslessState
{
    private static readonly string[] s_phaseNames = { "starting", "warming-up", "delaying", "ready", "draining", "stopping", "stopped" };

    private int _phase;
    private long _readySince;
    private long _drainSince;
    private int _wasReady;

    // Counters (Interlocked): read by the status provider on agent threads only.
    public long InFlight;
    public long Served;
    public long ServedWhileDraining;
    public long InFlightAtStop;
    public long CompletedAfterStop;
    public long ReadinessProbes;
    public long WarmupRequestsSent;
    public long WarmupRequestsFailed;
    public long Precompiled;
    public long Queued;
    public long CallerRetries;
    public long CallerNotices;
    public long CallerNotRetried;

    /// <summary>Raised after every phase change, on the thread that made it (never a request thread).</summary>
    public event Action<LosslessPhase, LosslessPhase>? PhaseChanged;

    public LosslessPhase Phase => (LosslessPhase)Volatile.Read(ref _phase);

    public bool IsReady => Volatile.Read(ref _phase) == (int)LosslessPhase.Ready;

    /// <summary>True once readiness has passed at least once (a load balancer may have picked the instance up).</summary>
    public bool WasReady => Volatile.Read(ref _wasReady) != 0;

    /// <summary>Stopwatch timestamp of the moment readiness first passed; 0 before.</summary>
    public long ReadySince => Volatile.Read(ref _readySince);

    /// <summary>Stopwatch timestamp of the stop request; 0 before.</summary>
    public long DrainSince => Volatile.Read(ref _drainSince);

    public static string NameOf(LosslessPhase phase) => s_phaseNames[(int)phase];

    /// <summary>Moves forward to <paramref name="to"/> unless the phase is already there or beyond.</summary>
    public bool Advance(LosslessPhase to)
    {
        while (true)
        {
            int current = Volatile.Read(ref _phase);
            if (current >= (int)to)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _phase, (int)to, current) == current)
            {
                if (to == LosslessPhase.Ready)
                {
                    Volatile.Write(ref _readySince, Stopwatch.GetTimestamp());
                    Volatile.Write(ref _wasReady, 1);
                }
                else if (to == LosslessPhase.Draining || (to > LosslessPhase.Draining && Volatile.Read(ref _drainSince) == 0))
                {
                    Interlocked.CompareExchange(ref _drainSince, Stopwatch.GetTimestamp(), 0);
                }

                try
                {
                    PhaseChanged?.Invoke((LosslessPhase)current, to);
                }
                catch (Exception)
                {
                    // Logging and status only; a failure there must not undo the transition.
                }

                return true;
            }
        }
    }
}
