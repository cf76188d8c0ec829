using System.Diagnostics;
using System.Text;
using Governor.Interception;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Governor.Plugins.AspNetCore.Tests.Pipeline;

/// <summary>
/// The route stage over the framework's real endpoint routing (UseRouting, a middleware between
/// routing and the endpoints, UseEndpoints) and its real DiagnosticListener, driven with
/// DefaultHttpContexts: what a route handler sees, how it answers or waits, what it costs to
/// have it off.
/// </summary>
public sealed class RouteStageTests : IDisposable
{
    private readonly InterceptionHub _hub = new();
    private readonly ListLogger _log = new();
    private readonly List<string> _journal = new();
    private readonly ServiceProvider _services;
    private readonly DiagnosticListener _listener;
    private readonly InboundRuntime _runtime;
    private readonly RequestDelegate _app;

    public RouteStageTests()
    {
        _listener = new DiagnosticListener("Microsoft.AspNetCore");
        _services = new ServiceCollection().AddLogging().AddRouting().AddSingleton(_listener).BuildServiceProvider();
        _runtime = new InboundRuntime(_hub, _log);
        _runtime.Activate(_log);
        _runtime.AddRouteStage(new RouteStage(_runtime, _listener).Enable);

        var app = new ApplicationBuilder(_services);
        app.Use(next => new InboundMiddleware(next, _runtime).InvokeAsync);
        app.UseRouting();
        app.Use((context, next) =>
        {
            // Stands for authorization, CORS, ...: what they see of the endpoint.
            _journal.Add($"between:{context.GetEndpoint()?.Metadata.GetMetadata<Tag>()?.Name ?? "(no metadata)"}");
            return context.Request.Headers.ContainsKey("x-deny") ? DenyAsync(context) : next(context);
        });
        app.UseEndpoints(endpoints =>
        {
            endpoints.MapGet("/orders/{id:int}", (int id) =>
            {
                _journal.Add($"app:{id}");
                return "order";
            }).WithMetadata(new Tag("orders"));
            endpoints.MapPost("/greet.Greeter/SayHello", context =>
            {
                _journal.Add("app:grpc");
                return Task.CompletedTask;
            });
        });
        _app = app.Build();
    }

    public void Dispose()
    {
        _runtime.Deactivate();
        _services.Dispose();
    }

    [Fact]
    public void RouteStage_NoRouteHandlerSubscribed_ListenerStaysDisabled()
    {
        Subscribe(new FakeHandler("plain", _journal));
        Assert.False(_listener.IsEnabled());
        Assert.False(_runtime.RouteStageOn);

        var subscription = Subscribe(new RouteHandler("r", _journal));
        Assert.True(_listener.IsEnabled());
        Assert.True(_listener.IsEnabled(RouteStage.EndpointMatchedEvent));
        Assert.False(_listener.IsEnabled("Microsoft.AspNetCore.Hosting.HttpRequestIn"));

        subscription.Dispose();
        Assert.False(_listener.IsEnabled());
        Assert.False(_runtime.RouteStageOn);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_RoutedRequest_SeesTemplateAfterRoutingBeforeTheEndpointWithItsOwnState()
    {
        var handler = new RouteHandler("r", _journal);
        Subscribe(handler);

        var context = Request("GET", "/orders/42");
        await _app(context);

        Assert.Equal(new[] { "r.request#0 route=", "r.route#0 route=/orders/{id:int} state=r", "between:orders", "app:42", "r.completed#0 state=r" }, _journal);
        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal("/orders/{id:int}", handler.RoutesAtCompletion.Single());
        Assert.False(handler.Outcomes.Single().AnsweredByHandler);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_NoEndpointMatched_NotCalled()
    {
        Subscribe(new RouteHandler("r", _journal));

        var context = Request("GET", "/nowhere");
        await _app(context);

        Assert.Equal(new[] { "r.request#0 route=", "between:(no metadata)", "r.completed#0 state=r" }, _journal);
        Assert.Equal(404, context.Response.StatusCode);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_HandlerAnswers_EndpointSkippedAnswerWrittenAndReportedAsAnswered()
    {
        var observer = new FakeHandler("plain", _journal);
        Subscribe(observer, order: 0);
        Subscribe(new RouteHandler("r", _journal) { Answer = new InboundResponse(429, "too many", headers: new[] { KeyValuePair.Create("x-limit", "orders") }) }, order: 1);
        var context = Request("GET", "/orders/7");
        var body = new MemoryStream();
        context.Response.Body = body;

        await _app(context);

        Assert.DoesNotContain("app:7", _journal);
        // The answer endpoint carries no metadata: middleware between routing and endpoints does nothing for it.
        Assert.Contains("between:(no metadata)", _journal);
        Assert.Equal(429, context.Response.StatusCode);
        Assert.Equal("too many", Encoding.UTF8.GetString(body.ToArray()));
        Assert.Equal("orders", context.Response.Headers["x-limit"]);
        var outcome = observer.Outcomes.Single();
        Assert.True(outcome.AnsweredByHandler);
        Assert.Equal(429, outcome.StatusCode);
        Assert.Equal("/orders/{id:int}", observer.RoutesAtCompletion.Single());
    }

    [Fact]
    public async Task OnRouteMatchedAsync_HandlerAnswersGrpc_TrailersOnly()
    {
        var handler = new RouteHandler("r", _journal) { Answer = InboundResponse.Grpc(8, "slow down") };
        Subscribe(handler);
        var context = Request("POST", "/greet.Greeter/SayHello", "application/grpc");

        await _app(context);

        Assert.DoesNotContain("app:grpc", _journal);
        Assert.Equal("8", context.Response.Headers["grpc-status"]);
        Assert.Equal("application/grpc", context.Response.ContentType);
        Assert.Equal(8, handler.Outcomes.Single().GrpcStatus);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_FirstHandlerAnswers_LaterRouteHandlersSkipped()
    {
        Subscribe(new RouteHandler("a", _journal) { Answer = new InboundResponse(503) }, order: 0);
        Subscribe(new RouteHandler("b", _journal), order: 1);

        await _app(Request("GET", "/orders/1"));

        Assert.DoesNotContain(_journal, line => line.StartsWith("b.route", StringComparison.Ordinal));
        Assert.Contains("b.completed#1 state=b", _journal);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_HandlerWaits_EndpointRunsAfterTheWaitWithItsMetadataKept()
    {
        var gate = new TaskCompletionSource<InboundResponse?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Subscribe(new RouteHandler("r", _journal) { Wait = gate.Task });
        var context = Request("GET", "/orders/5");

        var request = _app(context);
        await Task.Delay(50);
        Assert.False(request.IsCompleted);
        // Authorization, CORS, ... saw the app's endpoint metadata while the request waited.
        Assert.Contains("between:orders", _journal);
        Assert.DoesNotContain("app:5", _journal);

        gate.SetResult(null);
        await request;

        Assert.Equal(new[] { "r.request#0 route=", "r.route#0 route=/orders/{id:int} state=r", "between:orders", "app:5", "r.completed#0 state=r" }, _journal);
        Assert.Equal(200, context.Response.StatusCode);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_HandlerWaitsThenAnswers_EndpointSkipped()
    {
        var handler = new RouteHandler("r", _journal) { Wait = Later(new InboundResponse(429, "queue full")) };
        Subscribe(handler);
        var context = Request("GET", "/orders/5");

        await _app(context);

        Assert.DoesNotContain("app:5", _journal);
        Assert.Equal(429, context.Response.StatusCode);
        Assert.True(handler.Outcomes.Single().AnsweredByHandler);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_MiddlewareAnswersWhileHandlerWaits_CompletionWaitsForTheDecision()
    {
        var gate = new TaskCompletionSource<InboundResponse?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new RouteHandler("r", _journal) { Wait = gate.Task.ContinueWith(t => { _journal.Add("r.decided"); return t.Result; }, TaskScheduler.Default) };
        Subscribe(handler);
        var context = Request("GET", "/orders/5");
        context.Request.Headers["x-deny"] = "1";

        var request = _app(context);
        await Task.Delay(50);
        Assert.False(request.IsCompleted);
        Assert.Empty(handler.Outcomes);

        gate.SetResult(null);
        await request;

        Assert.Equal(403, context.Response.StatusCode);
        Assert.True(_journal.IndexOf("r.decided") < _journal.IndexOf("r.completed#0 state=r"));
        Assert.DoesNotContain("app:5", _journal);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_HandlerThrows_FailOpenEndpointRuns()
    {
        Subscribe(new RouteHandler("r", _journal) { Throw = true });

        var context = Request("GET", "/orders/3");
        await _app(context);

        Assert.Contains("app:3", _journal);
        Assert.Contains(_log.Lines, l => l.Contains("route handler", StringComparison.Ordinal) || l.Contains("route broke", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OnRouteMatchedAsync_RequestStartedBeforeTheHandlerSubscribed_NotCalled()
    {
        var handler = new RouteHandler("r", _journal);
        var plain = new FakeHandler("plain", _journal);
        Subscribe(plain);

        // A route handler subscribes while a request is inside the app (between stage 1 and routing).
        var context = Request("GET", "/orders/9");
        var app = new ApplicationBuilder(_services);
        app.Use(next => new InboundMiddleware(next, _runtime).InvokeAsync);
        app.Use((c, next) =>
        {
            Subscribe(handler);
            return next(c);
        });
        app.UseRouting();
        app.UseEndpoints(e => e.MapGet("/orders/{id:int}", () => "order"));
        await app.Build()(context);

        Assert.Empty(handler.Outcomes);
        Assert.DoesNotContain(_journal, line => line.StartsWith("r.", StringComparison.Ordinal));
        Assert.Equal(200, context.Response.StatusCode);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_AppAwaitsBeforeRouting_FoundOnTheThreadThatRoutes()
    {
        var handler = new RouteHandler("r", _journal);
        Subscribe(handler);
        var app = new ApplicationBuilder(_services);
        app.Use(next => new InboundMiddleware(next, _runtime).InvokeAsync);
        app.Use(async (c, next) =>
        {
            // Routing then runs in a continuation, after the middleware's synchronous part returned.
            await Task.Delay(20);
            await next(c);
        });
        app.UseRouting();
        app.UseEndpoints(e => e.MapGet("/orders/{id:int}", () => "order"));

        await app.Build()(Request("GET", "/orders/8"));

        Assert.Contains("r.route#0 route=/orders/{id:int} state=r", _journal);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_CallTableNeighbourhoodFull_RegisteredAsAFeatureAndStillRuns()
    {
        Subscribe(new RouteHandler("r", _journal) { Answer = new InboundResponse(429) });
        var context = Request("GET", "/orders/4");
        var fillers = new List<(int Slot, HttpInboundCall Call)>();
        try
        {
            // Every slot this context's hash may use is taken by other calls of the same context.
            while (true)
            {
                var filler = new HttpInboundCall();
                int slot = RouteCallTable.Add(filler, context);
                if (slot < 0)
                {
                    break;
                }

                fillers.Add((slot, filler));
            }

            await _app(context);
        }
        finally
        {
            foreach (var (slot, filler) in fillers)
            {
                RouteCallTable.Remove(slot, filler);
            }
        }

        Assert.Equal(429, context.Response.StatusCode);
        Assert.Null(context.Features.Get<HttpInboundCall>());
    }

    [Fact]
    public async Task RequestAborted_HttpContextToken_IsTheCallsToken()
    {
        using var aborted = new CancellationTokenSource();
        var handler = new FakeHandler("plain", _journal) { OnRequest = call => _journal.Add($"aborted-token-matches={call.RequestAborted == aborted.Token}") };
        Subscribe(handler);
        var context = Request("GET", "/orders/1");
        context.RequestAborted = aborted.Token;

        await _app(context);

        Assert.Contains("aborted-token-matches=True", _journal);
    }

    private static async Task DenyAsync(HttpContext context)
    {
        await Task.Yield();
        context.Response.StatusCode = 403;
    }

    private static async Task<InboundResponse?> Later(InboundResponse? answer)
    {
        await Task.Delay(20);
        return answer;
    }

    private static DefaultHttpContext Request(string method, string path, string? contentType = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        context.Request.ContentType = contentType;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private IDisposable Subscribe(IInboundHandler handler, int order = 0) => _hub.Inbound.Subscribe(handler, order, handler.GetType().Name + order);

    private sealed record Tag(string Name);

    /// <summary>A handler with a route stage: records what it sees; answers, waits or throws there.</summary>
    private sealed class RouteHandler : IInboundHandler, IInboundRouteHandler
    {
        private readonly string _name;
        private readonly List<string> _journal;

        public RouteHandler(string name, List<string> journal)
        {
            _name = name;
            _journal = journal;
        }

        public InboundResponse? Answer { get; init; }

        public Task<InboundResponse?>? Wait { get; init; }

        public bool Throw { get; init; }

        public List<InboundOutcome> Outcomes { get; } = new();

        public List<string?> RoutesAtCompletion { get; } = new();

        public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
        {
            _journal.Add($"{_name}.request#{call.HandlerIndex} route={call.RouteTemplate}");
            call.State = _name;
            return default;
        }

        public ValueTask<InboundResponse?> OnRouteMatchedAsync(InboundCall call)
        {
            _journal.Add($"{_name}.route#{call.HandlerIndex} route={call.RouteTemplate} state={call.State}");
            if (Throw)
            {
                throw new InvalidOperationException("route broke");
            }

            return Wait is not null ? new ValueTask<InboundResponse?>(Wait) : new ValueTask<InboundResponse?>(Answer);
        }

        public void OnCompleted(InboundCall call, in InboundOutcome outcome)
        {
            _journal.Add($"{_name}.completed#{call.HandlerIndex} state={call.State}");
            Outcomes.Add(outcome);
            RoutesAtCompletion.Add(call.RouteTemplate);
        }
    }
}
