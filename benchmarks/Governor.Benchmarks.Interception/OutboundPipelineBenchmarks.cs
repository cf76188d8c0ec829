using System.Net;
using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.HttpClient;

namespace Governor.Benchmarks.Interception;

/// <summary>
/// What the httpclient plugin adds to a send, driven through the same dispatch the
/// SocketsHttpHandler detour runs (<c>OutboundDispatch.SendAsync</c>), in front of a "network"
/// that returns an already completed response: no handler, no-op handlers without and with
/// durations. Target: a no-op handler at most 50 ns and 0 bytes per call.
/// </summary>
[MemoryDiagnoser]
public class OutboundPipelineBenchmarks
{
    private readonly HttpRequestMessage _request = new(HttpMethod.Get, "http://inventory/stock/42");
    private readonly Task<HttpResponseMessage> _response = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
    private readonly HandlerPipeline<IOutboundHandler> _none = new("outbound");
    private readonly HandlerPipeline<IOutboundHandler> _one = new("outbound");
    private readonly HandlerPipeline<IOutboundHandler> _four = new("outbound");
    private readonly HandlerPipeline<IOutboundHandler> _oneWithDuration = new("outbound");
    private OutboundRuntime _noHandler = null!;
    private OutboundRuntime _oneNoOp = null!;
    private OutboundRuntime _fourNoOps = null!;
    private OutboundRuntime _oneNoOpWithDuration = null!;

    [GlobalSetup]
    public void Setup()
    {
        _one.Subscribe(new NoOp(), 0, "bench", measuresDuration: false);
        for (int i = 0; i < 4; i++)
        {
            _four.Subscribe(new NoOp(), i, "bench", measuresDuration: false);
        }

        _oneWithDuration.Subscribe(new NoOp(), 0, "bench", measuresDuration: true);
        _noHandler = new OutboundRuntime(_none, NullLog.Instance);
        _oneNoOp = new OutboundRuntime(_one, NullLog.Instance);
        _fourNoOps = new OutboundRuntime(_four, NullLog.Instance);
        _oneNoOpWithDuration = new OutboundRuntime(_oneWithDuration, NullLog.Instance);
    }

    [Benchmark(Baseline = true, Description = "send alone (no Governor)")]
    public Task<HttpResponseMessage> SendAlone() => new CompletedSender(_response).SendAsync(_request, CancellationToken.None);

    [Benchmark(Description = "outbound, no handler")]
    public Task<HttpResponseMessage> NoHandler() => Dispatch(_noHandler);

    [Benchmark(Description = "outbound, 1 no-op handler")]
    public Task<HttpResponseMessage> OneNoOp() => Dispatch(_oneNoOp);

    [Benchmark(Description = "outbound, 4 no-op handlers")]
    public Task<HttpResponseMessage> FourNoOps() => Dispatch(_fourNoOps);

    [Benchmark(Description = "outbound, 1 no-op handler reading durations")]
    public Task<HttpResponseMessage> OneNoOpWithDuration() => Dispatch(_oneNoOpWithDuration);

    private Task<HttpResponseMessage> Dispatch(OutboundRuntime runtime)
    {
        OutboundRuntime.Activate(runtime);
        return OutboundDispatch.SendAsync(new CompletedSender(_response), _request, CancellationToken.None);
    }

    private readonly struct CompletedSender : IOutboundSender
    {
        private readonly Task<HttpResponseMessage> _response;

        public CompletedSender(Task<HttpResponseMessage> response) => _response = response;

        public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => _response;

        public HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => _response.Result;
    }

    private sealed class NoOp : IOutboundHandler
    {
        public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken) => default;

        public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome) => OutboundDecision.None;
    }
}

internal sealed class NullLog : IGovernorLogger
{
    public static readonly NullLog Instance = new();

    public bool IsEnabled(GovernorLogLevel level) => false;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
    }
}
