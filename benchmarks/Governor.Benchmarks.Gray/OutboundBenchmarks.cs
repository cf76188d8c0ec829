using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.Gray;
using Governor.Plugins.Gray.Routing;
using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;

namespace Governor.Benchmarks.Gray;

/// <summary>
/// The outbound handler per call. Propagation is measured as the difference between creating a
/// request (with a traceparent header, as the runtime's tracing adds) and creating it and running
/// the handler on it (target: under 200 ns); an unlabeled call must cost nothing and allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class OutboundBenchmarks
{
    private static readonly Uri s_external = new("http://api.example.com/v1/items?page=2");
    private static readonly Uri s_orders = new("http://127.0.0.1:5102/orders/42");
    private OutboundRouter _router = null!;
    private OutboundRouter _routerWithLanes = null!;
    private BenchOutboundCall _call = null!;
    private BenchOutboundCall _unlabeled = null!;
    private RequestContext _gray = null!;
    private HttpRequestMessage _reused = null!;

    [GlobalSetup]
    public void Setup()
    {
        _router = Router(Fixtures.Rules(Array.Empty<(string, TrafficLabelRuleSpec)>()));
        var orders = new VirtualWorkloadsSpec("orders", new[]
        {
            new VirtualWorkload("orders-base", null, new[] { Endpoint.TryParse("127.0.0.1:5102")! }, false),
            new VirtualWorkload("orders-gray", "gray", new[] { Endpoint.TryParse("127.0.0.1:6102")!, Endpoint.TryParse("127.0.0.1:6103")! }, false),
        });
        _routerWithLanes = Router(Fixtures.Rules(Array.Empty<(string, TrafficLabelRuleSpec)>(), new[] { ("orders", orders) }));
        _gray = new RequestContext { TrafficLabel = "gray" };
        _call = new BenchOutboundCall();
        _unlabeled = new BenchOutboundCall { Message = NewRequest(s_orders) };
        _reused = NewRequest(s_external);
    }

    [Benchmark(Baseline = true, Description = "new request (baseline)")]
    public HttpRequestMessage NewRequestOnly() => NewRequest(s_external);

    [Benchmark(Description = "new request + label propagated")]
    public HttpRequestMessage Propagate()
    {
        var request = NewRequest(s_external);
        Run(_router, request, _gray);
        return request;
    }

    [Benchmark(Description = "label propagated on a reused request, then removed again (upper bound)")]
    public HttpRequestMessage PropagateOnReusedRequest()
    {
        var request = _reused;
        Run(_router, request, _gray);
        request.Headers.Remove("x-governor-tag");
        request.Headers.Remove("baggage");
        return request;
    }

    [Benchmark(Description = "new request with baggage + label merged into it")]
    public HttpRequestMessage PropagateIntoExistingBaggage()
    {
        var request = NewRequest(s_external);
        request.Headers.TryAddWithoutValidation("baggage", "userId=7,session=abc");
        Run(_router, request, _gray);
        return request;
    }

    [Benchmark(Description = "new request + propagated + routed to a lane instance")]
    public HttpRequestMessage PropagateAndRoute()
    {
        var request = NewRequest(s_orders);
        Run(_routerWithLanes, request, _gray);
        return request;
    }

    [Benchmark(Description = "unlabeled call, lanes declared on another port")]
    public ValueTask<HttpResponseMessage?> Unlabeled()
    {
        _unlabeled.State = null;
        return _routerWithLanes.OnRequestAsync(_unlabeled, CancellationToken.None);
    }

    private static OutboundRouter Router(Governor.Rules.RuleSet rules)
    {
        var stats = new GrayStats();
        var state = GrayState.Compile(rules, "gateway", null, stats, _ => { });
        return new OutboundRouter(new GrayRuntime(new GrayOptions { DnsEnabled = false }, NullLogger.Instance, state, stats));
    }

    private static HttpRequestMessage NewRequest(Uri uri)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.TryAddWithoutValidation("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        return request;
    }

    private void Run(OutboundRouter router, HttpRequestMessage request, RequestContext context)
    {
        _call.Message = request;
        _call.Context = context;
        _call.State = null;
        _ = router.OnRequestAsync(_call, CancellationToken.None);
    }
}
