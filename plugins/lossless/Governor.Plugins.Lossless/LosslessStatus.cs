using System.Diagnostics;
using Governor.Status;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The plugin's counters for the status file, the EventSource and the Meter. Resource
/// <c>instance</c>: this process as a server (phase, readiness, in-flight, drain, warm-up, ramp);
/// resource <c>caller</c>: this process as a client of instances going away (retries).
/// Polled on agent threads only.
/// </summary>
internal sealed class LosslessStatus : IStatusProvider
{
    private readonly LosslessState _state;
    private readonly WarmupRamp _ramp;
    private readonly RampGate? _gate;
    private readonly LosslessLifecycle _lifecycle;

    public LosslessStatus(LosslessState state, WarmupRamp ramp, RampGate? gate, LosslessLifecycle lifecycle)
    {
        _state = state;
        _ramp = ramp;
        _gate = gate;
        _lifecycle = lifecycle;
    }

    public void Collect(StatusCollector collector)
    {
        var phase = _state.Phase;
        long now = Stopwatch.GetTimestamp();
        string text = LosslessState.NameOf(phase);
        if (phase == LosslessPhase.Stopped && _lifecycle.DrainSummary.Length > 0)
        {
            text += ": " + _lifecycle.DrainSummary;
        }

        collector.State("instance", text);
        collector.Gauge("instance", "ready", _state.IsReady ? 1 : 0);
        collector.Gauge("instance", "live", 1);
        collector.Gauge("instance", "inFlight", Math.Max(0, Interlocked.Read(ref _state.InFlight)));
        collector.Gauge("instance", "weight", phase == LosslessPhase.Ready ? WarmupRamp.WeightPercent(_ramp.Fraction(now)) : 0);
        collector.Gauge("instance", "readyAfterMs", _lifecycle.ReadyAfterMs);
        collector.Counter("instance", "served", Interlocked.Read(ref _state.Served));
        collector.Counter("instance", "servedWhileDraining", Interlocked.Read(ref _state.ServedWhileDraining));
        collector.Counter("instance", "inFlightAtStop", Interlocked.Read(ref _state.InFlightAtStop));
        collector.Counter("instance", "completedAfterStop", Interlocked.Read(ref _state.CompletedAfterStop));
        collector.Counter("instance", "readinessProbes", Interlocked.Read(ref _state.ReadinessProbes));
        collector.Counter("instance", "precompiled", Interlocked.Read(ref _state.Precompiled));
        collector.Counter("instance", "warmupRequests", Interlocked.Read(ref _state.WarmupRequestsSent));
        collector.Counter("instance", "warmupRequestsFailed", Interlocked.Read(ref _state.WarmupRequestsFailed));
        if (_gate is not null)
        {
            int cap = _ramp.Capacity(now);
            collector.Gauge("instance", "concurrencyCap", cap == int.MaxValue ? 0 : cap);
            collector.Gauge("instance", "queueing", _gate.Waiting);
            collector.Gauge("instance", "maxConcurrency", _gate.MaxActive);
            collector.Counter("instance", "queued", Interlocked.Read(ref _state.Queued));
            collector.Counter("instance", "queueTimeouts", Interlocked.Read(ref _gate.TimedOut));
        }

        collector.Counter("caller", "retries", Interlocked.Read(ref _state.CallerRetries));
        collector.Counter("caller", "notices", Interlocked.Read(ref _state.CallerNotices));
        collector.Counter("caller", "notRetried", Interlocked.Read(ref _state.CallerNotRetried));
    }
}
