using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.AspNetCore;
using Microsoft.AspNetCore.Http;

namespace Governor.Benchmarks.Interception;

/// <summary>
/// The inbound middleware around a terminal app that does nothing, over one reused
/// DefaultHttpContext: what Governor adds to every request. Targets: no handler ~ a call;
/// one no-op handler at most 50 ns and 0 bytes. A handler that reads durations makes the
/// middleware read the clock twice (start, completion); governance handlers that do not
/// (throttle, gray, lossless) subscribe without it. The first row shows what one clock read
/// costs on the machine.
/// </summary>
[MemoryDiagnoser]
public class InboundPipelineBenchmarks
{
    private static readonly RequestDelegate s_app = _ => Task.CompletedTask;

    private readonly DefaultHttpContext _context = new();
    private InboundMiddleware _noHandler = null!;
    private InboundMiddleware _oneNoOp = null!;
    private InboundMiddleware _fourNoOps = null!;
    private InboundMiddleware _oneNoOpNoDuration = null!;
    private InboundMiddleware _fourNoOpsNoDuration = null!;

    [GlobalSetup]
    public void Setup()
    {
        _context.Request.Method = "GET";
        _context.Request.Path = "/orders/42";
        _context.Request.Headers["x-lane"] = "gray";
        _noHandler = Create(0, measuresDuration: true);
        _oneNoOp = Create(1, measuresDuration: true);
        _fourNoOps = Create(4, measuresDuration: true);
        _oneNoOpNoDuration = Create(1, measuresDuration: false);
        _fourNoOpsNoDuration = Create(4, measuresDuration: false);
    }

    [Benchmark(Description = "one clock read (Stopwatch.GetTimestamp)")]
    public long ClockRead() => System.Diagnostics.Stopwatch.GetTimestamp();

    [Benchmark(Description = "middleware, no handler")]
    public Task NoHandler() => _noHandler.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 1 no-op handler")]
    public Task OneNoOpHandler() => _oneNoOpNoDuration.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 4 no-op handlers")]
    public Task FourNoOpHandlers() => _fourNoOpsNoDuration.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 1 no-op handler reading durations")]
    public Task OneNoOpHandlerWithDuration() => _oneNoOp.InvokeAsync(_context);

    [Benchmark(Description = "middleware, 4 no-op handlers reading durations")]
    public Task FourNoOpHandlersWithDuration() => _fourNoOps.InvokeAsync(_context);

    private static InboundMiddleware Create(int handlers, bool measuresDuration)
    {
        var hub = new InterceptionHub();
        for (int i = 0; i < handlers; i++)
        {
            hub.Inbound.Subscribe(new NoOpHandler(), i, $"noop{i}", measuresDuration);
        }

        var runtime = new InboundRuntime(hub, new NullLogger(), TimeProvider.System);
        runtime.Activate(new NullLogger());
        return new InboundMiddleware(s_app, runtime);
    }
}
