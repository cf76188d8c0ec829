using System.Text;
using Governor.Interception;
using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;
using static Governor.Plugins.Throttle.Tests.Fakes.TestRules;

namespace Governor.Plugins.Throttle.Tests;

public sealed class InboundThrottleTests
{
    private static readonly string s_fallback = Document("HttpRequestFallbackAction", "fallback-foo", "behavior: ReturnProvidedResponse", "behaviorDesc:", "  responseStatusCode: 503", "  responseContentBody: \"Blocked by Sentinel\"", "  responseAdditionalHeaders:", "    - key: X-Sentinel-Limit", "      value: \"foo\"");

    [Fact]
    public void OnRequestAsync_OverThreshold_AnswersWithConfiguredFallback()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 3), s_fallback, Rule("r", new[] { "rl" }, "fallback-foo", "/foo")));

        Assert.Equal(3, host.Admitted(3, "GET", "/foo"));
        var response = host.Request("GET", "/foo");

        Assert.NotNull(response);
        Assert.Equal(503, response.StatusCode);
        Assert.Equal("Blocked by Sentinel", Encoding.UTF8.GetString(response.Body.Span));
        Assert.Equal(KeyValuePair.Create("X-Sentinel-Limit", "foo"), Assert.Single(response.Headers));
        Assert.Null(response.GrpcStatus);
    }

    [Fact]
    public void OnRequestAsync_OpenSergoSampleAsWritten_ThrottlesFooWithItsFallback()
    {
        string sample = RuleValidationTests.OpenSergoSample.Replace("limitMode: Global", "limitMode: Local", StringComparison.Ordinal);
        using var host = new ThrottleHost(sample, appName: "my-app");

        Assert.Equal(10, host.Admitted(15, "GET", "/foo"));

        var response = host.Request("GET", "/foo");
        Assert.Equal(429, response!.StatusCode);
        Assert.Equal("Blocked by Sentinel", Encoding.UTF8.GetString(response.Body.Span));
        Assert.Equal(KeyValuePair.Create("X-Sentinel-Limit", "foo"), Assert.Single(response.Headers));
    }

    [Fact]
    public void OnRequestAsync_NoFallbackAction_Answers429NamingTheResource()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "/foo")));
        host.Request("GET", "/foo");

        var response = host.Request("GET", "/foo");

        Assert.Equal(429, response!.StatusCode);
        Assert.Contains("'/foo'", Encoding.UTF8.GetString(response.Body.Span));
        Assert.StartsWith("text/plain", response.ContentType);
    }

    [Fact]
    public void OnRequestAsync_GrpcMethodOverThreshold_AnswersResourceExhausted()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "/greet.Greeter/SayHello")));
        Assert.Null(host.Request("POST", "/greet.Greeter/SayHello", grpc: true));

        var response = host.Request("POST", "/greet.Greeter/SayHello", grpc: true);

        Assert.Equal(8, response!.GrpcStatus);
        Assert.Equal(200, response.StatusCode);
        Assert.Contains("/greet.Greeter/SayHello", response.GrpcMessage);
    }

    [Fact]
    public void OnRequestAsync_GrpcWithFallbackBody_UsesBodyAsMessage()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), s_fallback, Rule("r", new[] { "rl" }, "fallback-foo", "/greet.Greeter/SayHello")));

        var response = host.Request("POST", "/greet.Greeter/SayHello", grpc: true);

        Assert.Equal(8, response!.GrpcStatus);
        Assert.Equal("Blocked by Sentinel", response.GrpcMessage);
    }

    [Theory]
    [InlineData("/FOO")]
    [InlineData("/foo/")]
    [InlineData("/Foo/")]
    public void OnRequestAsync_OtherSpellingOfPath_IsTheSameResource(string path)
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 2), Rule("r", "rl", "/foo")));

        Assert.Equal(2, host.Admitted(5, "GET", path));
        Assert.Equal(0, host.Admitted(1, "GET", "/foo"));
    }

    [Fact]
    public void OnRequestAsync_OtherPath_IsNotThrottled()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "/foo")));

        Assert.Equal(5, host.Admitted(5, "GET", "/foo/bar"));
        Assert.Equal(5, host.Admitted(5, "GET", "/fo"));
        Assert.Equal(0, host.Admitted(1, "GET", "/foo"));
    }

    [Fact]
    public void OnRequestAsync_MethodQualifiedName_AppliesToThatMethodOnly()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "POST:/orders")));

        Assert.Equal(1, host.Admitted(3, "POST", "/orders"));
        Assert.Equal(3, host.Admitted(3, "GET", "/orders"));
    }

    [Fact]
    public void OnRequestAsync_PathAndMethodNames_BothApply()
    {
        using var host = new ThrottleHost(Join(RateLimit("all", 5), RateLimit("posts", 2), Rule("r1", "all", "/orders"), Rule("r2", "posts", "POST:/orders")));

        Assert.Equal(2, host.Admitted(4, "POST", "/orders"));
        Assert.Equal(3, host.Admitted(4, "GET", "/orders"));
    }

    [Fact]
    public void OnRouteMatchedAsync_RouteTemplate_MatchesEveryPathOfTheRoute()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 2), Rule("r", "rl", "/orders/{id}")));

        Assert.Null(host.Routed("GET", "/orders/1", "/orders/{id}"));
        Assert.Equal(1, Enumerable.Range(2, 3).Count(i => host.Routed("GET", $"/orders/{i}", "orders/{id}") is null));

        // Without a matched endpoint the template is unknown, and only path names can apply.
        Assert.Equal(3, host.Admitted(3, "GET", "/orders/3"));
    }

    [Fact]
    public void OnRouteMatchedAsync_MethodQualifiedRoute_AppliesToThatMethodOnly()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "DELETE:/orders/{id}")));

        Assert.Equal(1, Enumerable.Range(0, 3).Count(_ => host.Routed("DELETE", "/orders/1", "/orders/{id}") is null));
        Assert.Equal(3, Enumerable.Range(0, 3).Count(_ => host.Routed("GET", "/orders/1", "/orders/{id}") is null));
    }

    [Fact]
    public void OnRequestAsync_RuleForOtherApp_IsNotApplied()
    {
        string rule = Rule("r", "rl", "/foo").Replace("spec:\n", "spec:\n  selector:\n    app: billing\n", StringComparison.Ordinal);
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), rule), appName: "shop");

        Assert.Equal(3, host.Admitted(3, "GET", "/foo"));
    }

    [Fact]
    public void OnRequestAsync_RuleForThisApp_IsApplied()
    {
        string rule = Rule("r", "rl", "/foo").Replace("spec:\n", "spec:\n  selector:\n    app: shop\n", StringComparison.Ordinal);
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), rule), appName: "shop");

        Assert.Equal(0, host.Admitted(3, "GET", "/foo"));
    }

    [Fact]
    public void OnRequestAsync_WindowMovesOn_AdmitsAgain()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 10), Rule("r", "rl", "/foo")));
        Assert.Equal(10, host.Admitted(20, "GET", "/foo"));

        host.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(10, host.Admitted(20, "GET", "/foo"));
    }

    [Fact]
    public void OnRequestAsync_ObserveSetting_RejectsNothingAndCountsWouldBeRejections()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 3), Rule("r", "rl", "/foo")), settings: new Dictionary<string, string> { ["observe"] = "true" });

        Assert.Equal(10, host.Admitted(10, "GET", "/foo"));

        var status = host.Context.CollectStatus();
        Assert.Equal(7, status.Counters[("/foo", "observedBlocks")]);
        Assert.Equal(0, status.Counters[("/foo", "blocked")]);
        Assert.Equal("observing", status.States["/foo"]);
    }

    [Fact]
    public void OnRequestAsync_ObserveLabelOnRule_ObservesThatRuleOnly()
    {
        string observed = Rule("r1", "a", "/a").Replace("metadata:\n  name: r1\n", "metadata:\n  name: r1\n  labels:\n    throttle.governor.io/observe: \"true\"\n", StringComparison.Ordinal);
        using var host = new ThrottleHost(Join(RateLimit("a", 1), RateLimit("b", 1), observed, Rule("r2", "b", "/b")));

        Assert.Equal(5, host.Admitted(5, "GET", "/a"));
        Assert.Equal(1, host.Admitted(5, "GET", "/b"));
        Assert.Equal(4, host.Context.CollectStatus().Counters[("/a", "observedBlocks")]);
    }

    [Fact]
    public void OnRequestAsync_ObserveSettingChangedAtRuntime_AppliesWithinTwoSeconds()
    {
        var settings = new Dictionary<string, string>();
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "/foo")), settings: settings);
        Assert.Equal(1, host.Admitted(3, "GET", "/foo"));

        settings["observe"] = "true";
        host.Time.Advance(TimeSpan.FromMilliseconds(2000));

        Assert.Equal(3, host.Admitted(3, "GET", "/foo"));
    }

    [Fact]
    public void OnRequestAsync_PassPath_AllocatesNothing()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1_000_000), Rule("r", "rl", "/api/orders", "GET:/api/orders", "/api/orders/{id}")));
        // The path handler, and the route handler in its route stage (template known after routing).
        var handlers = host.Inbound.Handlers;
        Assert.Equal(2, handlers.Length);
        var route = (IInboundRouteHandler)handlers[1];
        var call = new FakeInboundCall("GET", "/api/orders", matchedRoute: "/api/orders/{id}");
        void Request()
        {
            call.RouteMatched = false;
            call.HandlerIndex = 0;
            Assert.Null(handlers[0].OnRequestAsync(call).Completed());
            call.HandlerIndex = 1;
            Assert.Null(handlers[1].OnRequestAsync(call).Completed());
            call.RouteMatched = true;
            Assert.Null(route.OnRouteMatchedAsync(call).Completed());
            handlers[1].OnCompleted(call, default);
            call.HandlerIndex = 0;
            handlers[0].OnCompleted(call, default);
        }

        for (int i = 0; i < 1000; i++)
        {
            Request();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            Request();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(11_000, host.Context.CollectStatus().Counters[("/api/orders/{id}", "passed")]);
    }

    [Fact]
    public void OnRequestAsync_InternalFault_FailsOpenAndLogsOncePerInterval()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "/foo")));
        var handler = host.Inbound.Handlers.Single();

        for (int i = 0; i < 1000; i++)
        {
            Assert.Null(handler.OnRequestAsync(new ThrowingCall()).Completed());
        }

        Assert.Single(host.Context.Log.Lines, l => l.Contains("let a call through after an internal error", StringComparison.Ordinal));
        Assert.Equal(1000, host.Context.CollectStatus().Counters[("(throttle)", "faults")]);
    }

    [Fact]
    public void OnRequestAsync_Flood_LogsRejectionsRateLimited()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "/foo")));

        host.Admitted(10_000, "GET", "/foo");

        Assert.Single(host.Context.Log.Lines, l => l.Contains("rejected a request to /foo", StringComparison.Ordinal));
        Assert.Equal(9_999, host.Context.CollectStatus().Counters[("/foo", "blocked")]);
    }

    [Fact]
    public void StartAndStop_PluginWithRules_SubscribesAtOrder100AndUnsubscribes()
    {
        var host = new ThrottleHost(Join(RateLimit("rl", 1), Rule("r", "rl", "/foo")));
        Assert.Equal(new[] { "throttle" }, host.Inbound.Owners);
        Assert.Equal(new[] { "throttle" }, host.Outbound.Owners);
        Assert.Contains("1 inbound and 0 outbound resources", host.Context.Detail);

        host.Dispose();

        Assert.False(host.Inbound.HasHandlers);
        Assert.False(host.Outbound.HasHandlers);
    }

    /// <summary>A call whose path cannot be read: stands for any bug or surprise inside the plugin.</summary>
    private sealed class ThrowingCall : FakeInboundCall
    {
        public ThrowingCall()
            : base("GET", "/foo")
        {
        }

        public override string Path => throw new InvalidOperationException("boom");
    }
}
