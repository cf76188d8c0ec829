using System.Net;
using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.Lossless;

namespace Governor.Benchmarks.Lossless;

/// <summary>
/// What the lossless plugin adds to every request, measured as the pipeline calls it:
/// <c>OnRequestAsync</c> then <c>OnCompleted</c> on one call, against a handler that does nothing
/// (the baseline: the cost of being a subscribed handler at all). The caller side is one
/// <c>OnCompleted</c> per outbound response.
/// </summary>
public class RequestPathBenchmarks
{
    private readonly InboundCall _call = new BenchInboundCall();
    private readonly IInboundHandler _noop = new NoopInboundHandler();
    private InboundGuard _ready = null!;
    private InboundGuard _ramping = null!;
    private InboundGuard _rampingCapped = null!;
    private InboundGuard _draining = null!;
    private RampGate _gate = null!;
    private CallerRetryHandler _caller = null!;
    private OutboundCall _outbound = null!;
    private OutboundOutcome _ok;
    private OutboundOutcome _okWithNotice;

    [GlobalSetup]
    public void Setup()
    {
        // Ready, the ramp over (warmupTime 0 behaves the same as a ramp that has ended).
        _ready = Guard(TimeSpan.Zero, 0, LosslessPhase.Ready, out _);
        // Ready, 10 minutes of ramp ahead: the weight header on every response.
        _ramping = Guard(TimeSpan.FromMinutes(10), 0, LosslessPhase.Ready, out _);
        // The same with the concurrency cap (far above the one request in flight here).
        _rampingCapped = Guard(TimeSpan.FromMinutes(10), 1_000_000, LosslessPhase.Ready, out var gate);
        _gate = gate!;
        // Draining: Connection: close and the notice on every response.
        _draining = Guard(TimeSpan.Zero, 0, LosslessPhase.Draining, out _);

        var state = new LosslessState();
        _caller = new CallerRetryHandler(state, new NullLogger());
        _outbound = new BenchOutboundCall();
        _ok = new OutboundOutcome(new HttpResponseMessage(HttpStatusCode.OK), null, 0, answeredByHandler: false);
        var leaving = new HttpResponseMessage(HttpStatusCode.OK);
        leaving.Headers.TryAddWithoutValidation(InboundGuard.NoticeHeader, InboundGuard.NoticeValue);
        _okWithNotice = new OutboundOutcome(leaving, null, 0, answeredByHandler: false);
    }

    [GlobalCleanup]
    public void Cleanup() => _gate.Dispose();

    [Benchmark(Baseline = true, Description = "no-op inbound handler (baseline)")]
    public bool Noop() => Inbound(_noop);

    [Benchmark(Description = "inbound guard, ready (ramp over)")]
    public bool Ready() => Inbound(_ready);

    [Benchmark(Description = "inbound guard, ramping (weight header)")]
    public bool Ramping() => Inbound(_ramping);

    [Benchmark(Description = "inbound guard, ramping with concurrency cap")]
    public bool RampingCapped() => Inbound(_rampingCapped);

    [Benchmark(Description = "inbound guard, draining (Connection: close + notice)")]
    public bool Draining() => Inbound(_draining);

    [Benchmark(Description = "caller retry check, 200 without notice")]
    public OutboundDecision CallerOk() => _caller.OnCompleted(_outbound, _ok);

    [Benchmark(Description = "caller retry check, 200 with notice")]
    public OutboundDecision CallerNotice() => _caller.OnCompleted(_outbound, _okWithNotice);

    private bool Inbound(IInboundHandler handler)
    {
        var pending = handler.OnRequestAsync(_call);
        bool passed = pending.IsCompletedSuccessfully && pending.Result is null;
        handler.OnCompleted(_call, default);
        return passed;
    }

    private static InboundGuard Guard(TimeSpan warmup, int maxConcurrency, LosslessPhase phase, out RampGate? gate)
    {
        var state = new LosslessState();
        var ramp = new WarmupRamp(state, warmup, 1.0, maxConcurrency, 1);
        gate = ramp.CapsConcurrency ? new RampGate(ramp.Capacity, TimeSpan.FromSeconds(10)) : null;
        state.Advance(LosslessPhase.Ready);
        state.Advance(phase);
        return new InboundGuard(state, ramp, gate);
    }

    private sealed class NoopInboundHandler : IInboundHandler
    {
        public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => default;

        public void OnCompleted(InboundCall call, in InboundOutcome outcome)
        {
        }
    }

    private sealed class NullLogger : IGovernorLogger
    {
        public bool IsEnabled(GovernorLogLevel level) => false;

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
        }
    }

    private sealed class BenchInboundCall : InboundCall
    {
        public override string Method => "GET";

        public override string Path => "/api/orders/42";

        public override string? RouteTemplate => "/api/orders/{id}";

        public override string Protocol => "HTTP/1.1";

        public override string Scheme => "http";

        public override string Host => "localhost";

        public override bool IsGrpc => false;

        public override object NativeContext => this;

        public override string? GetHeader(string name) => null;

        public override string? GetQuery(string name) => null;

        public override string? GetCookie(string name) => null;

        public override void AddResponseHeader(string name, string value)
        {
        }
    }

    private sealed class BenchOutboundCall : OutboundCall
    {
        public override HttpRequestMessage Request { get; } = new(HttpMethod.Get, "http://orders.shop:8080/orders/1");

        public override bool CanRetry => true;

        public override void MarkIdempotent()
        {
        }
    }
}
