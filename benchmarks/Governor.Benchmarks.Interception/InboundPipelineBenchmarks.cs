using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.AspNetCore;
using Microsoft.AspNetCore.Http;

namespace Governor.Benchmarks.Interception;

/// <summary>
/// The inbound middleware around a terminal app that does nothing, over one reused
/// DefaultHttpContext: what Governor adds to every request. Targets: no handler ~ a call;
/// one no-op handler at most 50 ns and 0 bytes. A request with handlers reads the clock twice
/// (start, completion); the "clock excluded" rows use a constant clock to show the pipeline's own
/// cost, and the first row shows what one clock read costs on the machine.
/// </summary>
[MemoryDiagnoser]
public class InboundPipelineBenchmarks
{
    private static readonly RequestDelegate s_app = _ => Task.CompletedTask;

    private readonly DefaultHttpContext _context = new();
    private InboundMiddleware _noHandler = null!;
    private InboundMiddleware _oneNoOp = null!;
    private InboundMiddleware _fourNoOps = null!;
    private InboundMiddleware _oneNoOpNoClock = null!;
    private InboundMiddleware _fourNoOpsNoClock = null!;

    [GlobalSetup]
    public void Setup()
    {
        _context.Request.Method = "GET";
        _context.Request.Path = "/orders/42";
        _context.Request.Headers["x-lane"] = "gray";
        _noHandler = Create(0, TimeProvider.System);
        _oneNoOp = Create(1, TimeProvider.System);
        _fourNoOps = Create(4, TimeProvider.System);
        _oneNoOpNoClock = Create(1, new ConstantClock());
        _fourNoOpsNoClock = Create(4, new ConstantClock());
    }

    [Benchmark(Description = "one clock read (Stopwatch.GetTimestamp)")]
    public long ClockRead() => System.Diagnostics.Stopwatch.GetTimestamp();

    [Benchmark(Description = "middleware, no handler")]
    public Task NoHandler() => _noHandler.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 1 no-op handler")]
    public Task OneNoOpHandler() => _oneNoOp.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 4 no-op handlers")]
    public Task FourNoOpHandlers() => _fourNoOps.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 1 no-op handler, clock excluded")]
    public Task OneNoOpHandlerClockExcluded() => _oneNoOpNoClock.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 4 no-op handlers, clock excluded")]
    public Task FourNoOpHandlersClockExcluded() => _fourNoOpsNoClock.InvokeAsync(_context);

    private static InboundMiddleware Create(int handlers, TimeProvider clock)
    {
        var hub = new InterceptionHub();
        for (int i = 0; i < handlers; i++)
        {
            hub.Inbound.Subscribe(new NoOpHandler(), i, $"noop{i}");
        }

        var runtime = new InboundRuntime(hub, new NullLogger(), clock);
        runtime.Activate(new NullLogger());
        return new InboundMiddleware(s_app, runtime);
    }

    private sealed class ConstantClock : TimeProvider
    {
        public override long GetTimestamp() => 1;
    }

    private sealed class NoOpHandler : IInboundHandler
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
}
