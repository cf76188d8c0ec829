using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.Throttle;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// The whole inbound check as a provider runs it (<see cref="InboundCheck"/>): both handlers'
/// request callbacks (rules snapshot, resource lookup among 20 inbound and 5 outbound
/// resources, admission), the route stage when routing matched, and the completion callbacks.
/// </summary>
public class InboundCheckBenchmarks
{
    private InboundCheck _inbound = null!;
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
        _inbound = new InboundCheck(engine);
        _outbound = new OutboundThrottleHandler(engine);
        _unconfigured = new BenchInboundCall("GET", "/api/customers/42", "/api/customers/{id}");
        _path = new BenchInboundCall("GET", "/api/orders", null);
        _methodAndRoute = new BenchInboundCall("POST", "/api/v1/items3", "/api/orders/{id}");
        _concurrency = new BenchInboundCall("GET", "/api/slow", null);
        _host = new BenchOutboundCall("https://api.example.com/v1/orders");
    }

    [Benchmark(Baseline = true, Description = "inbound, path and route with no rule")]
    public bool Unconfigured() => _inbound.Run(_unconfigured);

    [Benchmark(Description = "inbound, path with a rate limit")]
    public bool PathRateLimit() => _inbound.Run(_path);

    [Benchmark(Description = "inbound, path + METHOD:path + route, 3 rate limits")]
    public bool MethodAndRoute() => _inbound.Run(_methodAndRoute);

    [Benchmark(Description = "inbound, rate limit + concurrency limit")]
    public bool RateAndConcurrency() => _inbound.Run(_concurrency);

    [Benchmark(Description = "outbound, host with a rate limit")]
    public HttpResponseMessage? OutboundHost()
    {
        var result = _outbound.OnRequestAsync(_host, CancellationToken.None).Result;
        _outbound.OnCompleted(_host, default);
        return result;
    }
}
