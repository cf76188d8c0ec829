using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.Throttle;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// The whole inbound check as a provider runs it: the handler's request callback (rules
/// snapshot, resource lookup among 20 inbound and 5 outbound resources, admission) and its
/// completion callback.
/// </summary>
public class InboundCheckBenchmarks
{
    private InboundThrottleHandler _handler = null!;
    private OutboundThrottleHandler _outbound = null!;
    private BenchInboundCall _unconfigured = null!;
    private BenchInboundCall _path = null!;
    private BenchInboundCall _methodAndRoute = null!;
    private BenchInboundCall _concurrency = null!;
    private BenchOutboundCall _host = null!;

    [GlobalSetup]
    public void Setup()
    {
        var engine = Fixtures.Engine();
        _handler = new InboundThrottleHandler(engine);
        _outbound = new OutboundThrottleHandler(engine);
        _unconfigured = new BenchInboundCall("GET", "/api/customers/42", "/api/customers/{id}");
        _path = new BenchInboundCall("GET", "/api/orders", null);
        _methodAndRoute = new BenchInboundCall("POST", "/api/v1/items3", "/api/orders/{id}");
        _concurrency = new BenchInboundCall("GET", "/api/slow", null);
        _host = new BenchOutboundCall("https://api.example.com/v1/orders");
    }

    [Benchmark(Baseline = true, Description = "inbound, path with no rule")]
    public InboundResponse? Unconfigured() => Run(_unconfigured);

    [Benchmark(Description = "inbound, path with a rate limit")]
    public InboundResponse? PathRateLimit() => Run(_path);

    [Benchmark(Description = "inbound, path + METHOD:path + route, 3 rate limits")]
    public InboundResponse? MethodAndRoute() => Run(_methodAndRoute);

    [Benchmark(Description = "inbound, rate limit + concurrency limit")]
    public InboundResponse? RateAndConcurrency() => Run(_concurrency);

    [Benchmark(Description = "outbound, host with a rate limit")]
    public HttpResponseMessage? OutboundHost()
    {
        var result = _outbound.OnRequestAsync(_host, CancellationToken.None).Result;
        _outbound.OnCompleted(_host, default);
        return result;
    }

    private InboundResponse? Run(InboundCall call)
    {
        var result = _handler.OnRequestAsync(call).Result;
        _handler.OnCompleted(call, default);
        return result;
    }
}
