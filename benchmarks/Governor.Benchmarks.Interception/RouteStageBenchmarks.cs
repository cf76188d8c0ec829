using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Governor.Benchmarks.Interception;

/// <summary>
/// The route stage over the framework's real endpoint routing (UseRouting, UseEndpoints, one
/// matched route template, a terminal endpoint that does nothing), one reused DefaultHttpContext:
/// what the route stage adds to a routed request — the DiagnosticListener subscribed while a
/// route handler is, the call registered as a feature, the EndpointMatched callback — and what
/// an answer there costs (the matched endpoint replaced by the cached answer endpoint).
/// </summary>
[MemoryDiagnoser]
public class RouteStageBenchmarks
{
    private static readonly InboundResponse s_answer = new(429);

    private readonly DefaultHttpContext _context = new();
    private RequestDelegate _routingOnly = null!;
    private RequestDelegate _noRouteHandler = null!;
    private RequestDelegate _routeHandlerPasses = null!;
    private RequestDelegate _routeHandlerAnswers = null!;

    [GlobalSetup]
    public void Setup()
    {
        _context.Request.Method = "GET";
        _context.Request.Path = "/orders/42";
        _context.Response.Body = Stream.Null;
        _routingOnly = Pipeline(null);
        _noRouteHandler = Pipeline(new NoOpHandler());
        _routeHandlerPasses = Pipeline(new RouteHandler(null));
        _routeHandlerAnswers = Pipeline(new RouteHandler(s_answer));
    }

    [Benchmark(Baseline = true, Description = "routing to an endpoint, no Governor middleware")]
    public Task RoutingOnly() => Run(_routingOnly);

    [Benchmark(Description = "routing + middleware, 1 handler without route stage (stage off)")]
    public Task NoRouteHandler() => Run(_noRouteHandler);

    [Benchmark(Description = "routing + middleware, 1 route handler that passes")]
    public Task RouteHandlerPasses() => Run(_routeHandlerPasses);

    [Benchmark(Description = "routing + middleware, 1 route handler that answers 429")]
    public Task RouteHandlerAnswers() => Run(_routeHandlerAnswers);

    /// <summary>The same four requests, 2 million each, timed in CPU time (see <see cref="CpuTime"/>).</summary>
    public static void CpuCheck()
    {
        var bench = new RouteStageBenchmarks();
        bench.Setup();
        const int Calls = 2_000_000;
        CpuTime.Measure("routing to an endpoint, no Governor middleware", () => bench.RoutingOnly().IsCompletedSuccessfully, Calls);
        CpuTime.Measure("routing + middleware, 1 handler without route stage (stage off)", () => bench.NoRouteHandler().IsCompletedSuccessfully, Calls);
        CpuTime.Measure("routing + middleware, 1 route handler that passes", () => bench.RouteHandlerPasses().IsCompletedSuccessfully, Calls);
        CpuTime.Measure("routing + middleware, 1 route handler that answers 429", () => bench.RouteHandlerAnswers().IsCompletedSuccessfully && bench._context.Response.StatusCode == 429, Calls);
    }

    private Task Run(RequestDelegate pipeline)
    {
        // What a new request on a reused connection starts with.
        _context.SetEndpoint(null);
        _context.Request.RouteValues.Clear();
        _context.Response.StatusCode = 200;
        return pipeline(_context);
    }

    private static RequestDelegate Pipeline(IInboundHandler? handler)
    {
        var listener = new DiagnosticListener("Microsoft.AspNetCore");
        var services = new ServiceCollection().AddLogging().AddRouting().AddSingleton(listener).BuildServiceProvider();
        var app = new ApplicationBuilder(services);
        if (handler is not null)
        {
            var hub = new InterceptionHub();
            hub.Inbound.Subscribe(handler, 0, "bench", measuresDuration: false);
            var runtime = new InboundRuntime(hub, new NullLogger(), TimeProvider.System);
            runtime.Activate(new NullLogger());
            runtime.AddRouteStage(new RouteStage(runtime, listener).Enable);
            app.Use(next => new InboundMiddleware(next, runtime).InvokeAsync);
        }

        app.UseRouting();
        app.UseEndpoints(endpoints => endpoints.MapGet("/orders/{id}", _ => Task.CompletedTask));
        return app.Build();
    }

    private sealed class RouteHandler : IInboundHandler, IInboundRouteHandler
    {
        private readonly InboundResponse? _answer;

        public RouteHandler(InboundResponse? answer) => _answer = answer;

        public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => default;

        public ValueTask<InboundResponse?> OnRouteMatchedAsync(InboundCall call) => new(call.RouteTemplate is null ? null : _answer);

        public void OnCompleted(InboundCall call, in InboundOutcome outcome)
        {
        }
    }
}
