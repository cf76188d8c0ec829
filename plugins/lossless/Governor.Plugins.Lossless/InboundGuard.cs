using System.Diagnostics;
using Governor.Interception;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The instance's side, on the <c>inbound</c> pipeline (order -100: first in, last out):
/// counts in-flight requests (what the stop sequence awaits); while draining, marks every
/// response so that clients leave (<c>Connection: close</c> on HTTP/1.x, a graceful GOAWAY on
/// HTTP/2) and governed callers know why (<c>x-governor-lossless: shutting-down</c>); while
/// ramping up, advertises the warm-up weight and, when configured, caps concurrency by queueing.
/// Request path cost: one interlocked increment, one volatile read of the phase, and during the
/// ramp one timestamp (none once it is over); nothing allocates except a queued request's waiter.
/// </summary>
internal sealed class InboundGuard : IInboundHandler
{
    public const string NoticeHeader = "x-governor-lossless";
    public const string NoticeValue = "shutting-down";

    // The per-call state slot holds this when the request took a ramp slot it must give back.
    private static readonly object s_slot = new();

    private readonly LosslessState _state;
    private readonly WarmupRamp _ramp;
    private readonly RampGate? _gate;

    public InboundGuard(LosslessState state, WarmupRamp ramp, RampGate? gate)
    {
        _state = state;
        _ramp = ramp;
        _gate = gate;
    }

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
    {
        Interlocked.Increment(ref _state.InFlight);
        var phase = _state.Phase;
        if (phase >= LosslessPhase.Draining)
        {
            MarkLeaving(call);
            Interlocked.Increment(ref _state.ServedWhileDraining);
            return default;
        }

        if (phase == LosslessPhase.Ready && !_ramp.IsOver)
        {
            long now = Stopwatch.GetTimestamp();
            if (_ramp.IsRamping(now))
            {
                call.AddResponseHeader(WarmupRamp.WeightHeader, _ramp.WeightText(now));
                if (_gate is not null)
                {
                    if (_gate.TryEnter(now))
                    {
                        call.State = s_slot;
                    }
                    else
                    {
                        return QueueAsync(call, _gate);
                    }
                }
            }
        }

        return default;
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
        if (ReferenceEquals(call.State, s_slot))
        {
            call.State = null;
            _gate!.Exit();
        }

        Interlocked.Increment(ref _state.Served);
        Interlocked.Decrement(ref _state.InFlight);
        if (_state.Phase >= LosslessPhase.Stopping)
        {
            Interlocked.Increment(ref _state.CompletedAfterStop);
        }
    }

    private async ValueTask<InboundResponse?> QueueAsync(InboundCall call, RampGate gate)
    {
        Interlocked.Increment(ref _state.Queued);
        await gate.EnterAsync().ConfigureAwait(false);
        // Admitted or timed out: either way it now holds a slot (see RampGate) and must give it back.
        call.State = s_slot;
        return null;
    }

    private static void MarkLeaving(InboundCall call)
    {
        string protocol = call.Protocol;
        if (protocol.Length >= 6 && protocol[5] == '1')
        {
            // "HTTP/1.1", "HTTP/1.0": Kestrel closes the connection after this response.
            call.AddResponseHeader("Connection", "close");
        }
        else
        {
            // HTTP/2 and HTTP/3 forbid connection headers; ask for a graceful close (GOAWAY) instead.
            WebHostAccess.RequestConnectionClose(call.NativeContext);
        }

        call.AddResponseHeader(NoticeHeader, NoticeValue);
    }
}
