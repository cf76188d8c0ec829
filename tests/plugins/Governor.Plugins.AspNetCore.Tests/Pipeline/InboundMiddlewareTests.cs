using System.Text;
using Governor.Interception;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Xunit;

namespace Governor.Plugins.AspNetCore.Tests.Pipeline;

/// <summary>The inbound middleware over a DefaultHttpContext, with hand-written handlers.</summary>
public sealed class InboundMiddlewareTests
{
    private readonly InterceptionHub _hub = new();
    private readonly ListLogger _log = new();
    private readonly List<string> _journal = new();

    [Fact]
    public async Task Invoke_NoHandlerSubscribed_PassesThroughToTheApp()
    {
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });

        await middleware.InvokeAsync(new DefaultHttpContext());

        Assert.Equal(new[] { "app" }, _journal);
    }

    [Fact]
    public async Task Invoke_TwoHandlers_RequestInOrderCompletionInReverseWithOwnIndexAndState()
    {
        var first = Subscribe("a", order: 0);
        var second = Subscribe("b", order: 5);
        var middleware = Create(c =>
        {
            _journal.Add("app");
            c.Response.StatusCode = 201;
            return Task.CompletedTask;
        });

        await middleware.InvokeAsync(Get("/orders"));

        Assert.Equal(new[] { "a.request#0", "b.request#1", "app", "b.completed#1 state=b", "a.completed#0 state=a" }, _journal);
        Assert.Equal(201, first.Outcomes.Single().StatusCode);
        Assert.False(second.Outcomes.Single().AnsweredByHandler);
        Assert.Equal(-1, second.Outcomes.Single().GrpcStatus);
        Assert.True(first.Outcomes.Single().ElapsedTicks > 0);
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 2)]
    public async Task Invoke_DurationWantedOrNot_ClockReadOnlyWhenAHandlerWantsIt(bool measuresDuration, int expectedReads)
    {
        var handler = new FakeHandler("a", _journal);
        _hub.Inbound.Subscribe(handler, 0, "a", measuresDuration);
        var clock = new CountingClock();
        var runtime = new InboundRuntime(_hub, _log, clock);
        runtime.Activate(_log);
        var middleware = new InboundMiddleware(_ => Task.CompletedTask, runtime);

        await middleware.InvokeAsync(Get("/x"));

        Assert.Equal(expectedReads, clock.Reads);
        Assert.Equal(measuresDuration, handler.Outcomes.Single().ElapsedTicks > 0);
    }

    [Fact]
    public async Task Invoke_HandlerAnswersHttp_AppAndLaterHandlersSkippedResponseWritten()
    {
        var first = Subscribe("a", order: 0);
        Subscribe("b", order: 1, answer: new InboundResponse(429, "slow down", headers: new[] { KeyValuePair.Create("Retry-After", "7") }));
        Subscribe("c", order: 2);
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });
        var context = Get("/x");
        var body = new MemoryStream();
        context.Response.Body = body;

        await middleware.InvokeAsync(context);

        Assert.Equal(new[] { "a.request#0", "b.request#1", "b.completed#1 state=b", "a.completed#0 state=a" }, _journal);
        Assert.Equal(429, context.Response.StatusCode);
        Assert.Equal("slow down", Encoding.UTF8.GetString(body.ToArray()));
        Assert.Equal("text/plain; charset=utf-8", context.Response.ContentType);
        Assert.Equal("7", context.Response.Headers["Retry-After"]);
        Assert.Equal(9, context.Response.ContentLength);
        Assert.True(first.Outcomes.Single().AnsweredByHandler);
        Assert.Equal(429, first.Outcomes.Single().StatusCode);
    }

    [Fact]
    public async Task Invoke_HandlerAnswersGrpc_TrailersOnlyWithEncodedMessageAndNoBody()
    {
        var observer = Subscribe("a", order: 0);
        Subscribe("b", order: 1, answer: InboundResponse.Grpc(8, "quota: 100% used, ça suffit"));
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });
        var context = Get("/greet.Greeter/SayHello", contentType: "application/grpc+proto");
        var body = new MemoryStream();
        context.Response.Body = body;

        await middleware.InvokeAsync(context);

        Assert.DoesNotContain("app", _journal);
        Assert.Equal(200, context.Response.StatusCode);
        Assert.Equal("application/grpc", context.Response.ContentType);
        Assert.Equal("8", context.Response.Headers["grpc-status"]);
        Assert.Equal("quota: 100%25 used, %C3%A7a suffit", context.Response.Headers["grpc-message"]);
        Assert.Equal(0, body.Length);
        Assert.Equal(8, observer.Outcomes.Single().GrpcStatus);
    }

    [Fact]
    public async Task Invoke_AppThrows_CompletionSeesExceptionAndItIsRethrown()
    {
        var handler = Subscribe("a", order: 0);
        var boom = new InvalidOperationException("app failed");
        var middleware = Create(async _ =>
        {
            await Task.Yield();
            throw boom;
        });

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => middleware.InvokeAsync(Get("/")));

        Assert.Same(boom, thrown);
        Assert.Same(boom, handler.Outcomes.Single().Exception);
        Assert.Equal(500, handler.Outcomes.Single().StatusCode);
    }

    [Fact]
    public async Task Invoke_AppThrowsSynchronously_CompletionSeesExceptionAndItIsRethrown()
    {
        var handler = Subscribe("a", order: 0);
        var middleware = Create(_ => throw new NotSupportedException("sync failure"));

        await Assert.ThrowsAsync<NotSupportedException>(() => middleware.InvokeAsync(Get("/")));

        Assert.IsType<NotSupportedException>(handler.Outcomes.Single().Exception);
    }

    [Fact]
    public async Task Invoke_AppsExceptionHandlerCaughtIt_CompletionSeesExceptionAndFailedRoute()
    {
        var handler = Subscribe("a", order: 0);
        var failed = Endpoint("/orders/{id}");
        var middleware = Create(c =>
        {
            // What UseExceptionHandler leaves behind: the feature, and the error page's endpoint.
            var feature = new ExceptionHandlerFeature { Error = new TimeoutException("db"), Path = "/orders/1", Endpoint = failed };
            c.Features.Set<IExceptionHandlerFeature>(feature);
            c.SetEndpoint(Endpoint("/error"));
            c.Response.StatusCode = 500;
            return Task.CompletedTask;
        });

        await middleware.InvokeAsync(Get("/orders/1"));

        Assert.IsType<TimeoutException>(handler.Outcomes.Single().Exception);
        Assert.Equal("/orders/{id}", handler.RoutesAtCompletion.Single());
    }

    [Fact]
    public async Task Invoke_HandlerThrows_RequestGoesOnAndFailureIsLogged()
    {
        Subscribe("a", order: 0, throwOnRequest: true);
        var second = Subscribe("b", order: 1);
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });

        await middleware.InvokeAsync(Get("/"));

        Assert.Contains("app", _journal);
        Assert.Single(second.Outcomes);
        Assert.Contains(_log.Lines, l => l.Contains("fail-open", StringComparison.Ordinal) && l.Contains("a broke", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Invoke_AsyncHandlers_LoopContinuesAndAnswerStillShortCircuits()
    {
        Subscribe("a", order: 0, async: true);
        Subscribe("b", order: 1, async: true, answer: new InboundResponse(503));
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });
        var context = Get("/");

        await middleware.InvokeAsync(context);

        Assert.Equal(new[] { "a.request#0", "b.request#1", "b.completed#1 state=b", "a.completed#0 state=a" }, _journal);
        Assert.Equal(503, context.Response.StatusCode);
    }

    [Fact]
    public async Task Invoke_HandlerCreatesContext_CurrentForTheAppsFlowsAndRestoredAfter()
    {
        var key = new ContextKey<string>("test");
        Subscribe("a", order: 0, onRequest: call => call.Context.Set(key, "lane-7"));
        string? inApp = null;
        string? inTaskRun = null;
        var middleware = Create(async _ =>
        {
            inApp = RequestContext.Current?.Get(key);
            await Task.Yield();
            inTaskRun = await Task.Run(() => RequestContext.Current?.Get(key));
        });

        await middleware.InvokeAsync(Get("/orders"));

        Assert.Equal("lane-7", inApp);
        Assert.Equal("lane-7", inTaskRun);
        Assert.Null(RequestContext.Current);
    }

    [Fact]
    public async Task Invoke_RouteMatchedInsideTheApp_NullAtRequestTemplateAtCompletion()
    {
        var handler = Subscribe("a", order: 0);
        string? atRequest = "unset";
        var probe = new FakeHandler("probe", _journal) { OnRequest = call => atRequest = call.RouteTemplate };
        using var sub = _hub.Inbound.Subscribe(probe, 1, "probe");
        var middleware = Create(c =>
        {
            c.SetEndpoint(Endpoint("/items/{id:int}"));
            return Task.CompletedTask;
        });

        await middleware.InvokeAsync(Get("/items/5"));

        Assert.Null(atRequest);
        Assert.Equal("/items/{id:int}", handler.RoutesAtCompletion.Single());
    }

    [Fact]
    public async Task Invoke_GrpcAppSetsStatusInTrailers_CompletionSeesGrpcStatus()
    {
        var handler = Subscribe("a", order: 0);
        var middleware = Create(c =>
        {
            var trailers = new TrailersFeature();
            trailers.Trailers["grpc-status"] = "5";
            c.Features.Set<IHttpResponseTrailersFeature>(trailers);
            return Task.CompletedTask;
        });

        var context = Get("/greet.Greeter/Fail", contentType: "application/grpc");
        context.Request.Protocol = "HTTP/2";

        await middleware.InvokeAsync(context);

        Assert.Equal(5, handler.Outcomes.Single().GrpcStatus);
    }

    [Fact]
    public async Task Invoke_PluginStopped_PassesThroughDespiteSubscribers()
    {
        Subscribe("a", order: 0);
        var runtime = new InboundRuntime(_hub, _log);
        runtime.Activate(_log);
        runtime.Deactivate();
        var middleware = new InboundMiddleware(_ => { _journal.Add("app"); return Task.CompletedTask; }, runtime);

        await middleware.InvokeAsync(Get("/"));

        Assert.Equal(new[] { "app" }, _journal);
    }

    [Fact]
    public async Task Call_HeadersQueryCookies_ValuesWhenPresentNullWhenAbsent()
    {
        var seen = new Dictionary<string, string?>();
        Subscribe("a", order: 0, onRequest: call =>
        {
            seen["header"] = call.GetHeader("x-lane");
            seen["noHeader"] = call.GetHeader("x-none");
            seen["query"] = call.GetQuery("lane");
            seen["noQuery"] = call.GetQuery("other");
            seen["cookie"] = call.GetCookie("lane");
            seen["noCookie"] = call.GetCookie("session");
            seen["grpc"] = call.GrpcMethod;
            seen["method"] = call.Method;
            call.AddResponseHeader("x-governed", "yes");
        });
        var middleware = Create(_ => Task.CompletedTask);
        var context = Get("/orders", query: "?lane=gray&x=1");
        context.Request.Headers["x-lane"] = "blue";
        context.Request.Headers.Cookie = "lane=green; other=1";

        await middleware.InvokeAsync(context);

        Assert.Equal("blue", seen["header"]);
        Assert.Null(seen["noHeader"]);
        Assert.Equal("gray", seen["query"]);
        Assert.Null(seen["noQuery"]);
        Assert.Equal("green", seen["cookie"]);
        Assert.Null(seen["noCookie"]);
        Assert.Null(seen["grpc"]);
        Assert.Equal("GET", seen["method"]);
        Assert.Equal("yes", context.Response.Headers["x-governed"]);
    }

    [Fact]
    public async Task Invoke_NoOpHandlerSynchronous_AllocatesNothing()
    {
        using var sub = _hub.Inbound.Subscribe(new NoOpHandler(), 0, "noop");
        var middleware = Create(_ => Task.CompletedTask);
        var context = Get("/orders");
        for (int i = 0; i < 100; i++)
        {
            await middleware.InvokeAsync(context);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            _ = middleware.InvokeAsync(context);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("Application/GRPC; charset=utf-8", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void IsGrpcContentType_VariousContentTypes_OnlyGrpcFamily(string? contentType, bool expected)
    {
        Assert.Equal(expected, HttpInboundCall.IsGrpcContentType(contentType));
    }

    [Fact]
    public async Task Invoke_AgentStillStartingItsPlugins_RequestWaitsAndMeetsTheHandlerSubscribedMeanwhile()
    {
        _hub.Startup.Close();
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });

        var pending = middleware.InvokeAsync(Get("/orders"));
        await Task.Delay(100);
        Assert.False(pending.IsCompleted);
        Assert.Empty(_journal);

        // A governance plugin starts, subscribes, and the agent's start is over.
        Subscribe("gray", order: 0);
        _hub.Startup.Open();
        await pending.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(new[] { "gray.request#0", "app", "gray.completed#0 state=gray" }, _journal);
    }

    [Fact]
    public async Task Invoke_StartOutlastsTheHoldTimeout_RequestGoesOnAndTheWaitIsLogged()
    {
        _hub.Startup.HoldTimeout = TimeSpan.FromMilliseconds(50);
        _hub.Startup.Log = _log;
        _hub.Startup.Close();
        var middleware = Create(_ => { _journal.Add("app"); return Task.CompletedTask; });

        await middleware.InvokeAsync(Get("/orders")).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(new[] { "app" }, _journal);
        Assert.Equal(1, _hub.Startup.TimedOut);
        Assert.Contains(_log.Lines, l => l.Contains("governor:startup:holdTimeout", StringComparison.Ordinal));
    }

    private InboundMiddleware Create(RequestDelegate app)
    {
        var runtime = new InboundRuntime(_hub, _log);
        runtime.Activate(_log);
        return new InboundMiddleware(app, runtime);
    }

    private FakeHandler Subscribe(string name, int order, InboundResponse? answer = null, bool throwOnRequest = false, bool async = false, Action<InboundCall>? onRequest = null)
    {
        var handler = new FakeHandler(name, _journal) { Answer = answer, ThrowOnRequest = throwOnRequest, Async = async, OnRequest = onRequest };
        _hub.Inbound.Subscribe(handler, order, name);
        return handler;
    }

    private static DefaultHttpContext Get(string path, string? contentType = null, string? query = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = contentType is null ? "GET" : "POST";
        context.Request.Path = path;
        context.Request.ContentType = contentType;
        if (query is not null)
        {
            context.Request.QueryString = new QueryString(query);
        }

        return context;
    }

    private static RouteEndpoint Endpoint(string pattern) => new(_ => Task.CompletedTask, RoutePatternFactory.Parse(pattern), 0, EndpointMetadataCollection.Empty, pattern);

    private sealed class TrailersFeature : IHttpResponseTrailersFeature
    {
        public IHeaderDictionary Trailers { get; set; } = new HeaderDictionary();
    }

    private sealed class CountingClock : TimeProvider
    {
        private long _now = 1000;

        public int Reads { get; private set; }

        public override long GetTimestamp()
        {
            Reads++;
            return _now += 10;
        }
    }
}
