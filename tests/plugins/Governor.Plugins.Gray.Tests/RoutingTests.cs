using System.Net;
using Governor.Plugins.Gray.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.Gray.Tests;

/// <summary>Lane routing from VirtualWorkloads rules, with fallback, through the real outbound pipeline.</summary>
public sealed class RoutingTests
{
    private static readonly string Orders = TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "127.0.0.1:6102,127.0.0.1:6103"));

    [Fact]
    public void Route_LabeledCallToBaseAddress_GoesToLaneInstancesRoundRobin()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));

        var answered = Enumerable.Range(0, 4).Select(_ => host.Outbound.Get("http://127.0.0.1:5102/orders/1?x=2", label: "gray").AnsweredBy).ToList();

        Assert.Equal(2, answered.Count(a => a == "127.0.0.1:6102"));
        Assert.Equal(2, answered.Count(a => a == "127.0.0.1:6103"));
        Assert.All(host.Outbound.Wire, s => Assert.Equal("/orders/1?x=2", s.Uri.PathAndQuery));
        var status = host.Context.CollectStatus();
        Assert.Equal(4, status.Get("route/orders/gray", "labeled"));
        Assert.Equal(4, status.Get("route/orders/gray", "routed"));
        Assert.Equal(0, status.Get("route/orders/gray", "fallbacks"));
    }

    [Fact]
    public void Route_UnlabeledCall_NeverGoesToALaneInstance()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));

        for (int i = 0; i < 20; i++)
        {
            Assert.Equal("127.0.0.1:5102", host.Outbound.Get("http://127.0.0.1:5102/orders/1").AnsweredBy);
            // Interleaved labeled calls do go to the lane.
            Assert.StartsWith("127.0.0.1:610", host.Outbound.Get("http://127.0.0.1:5102/orders/1", label: "gray").AnsweredBy, StringComparison.Ordinal);
        }

        Assert.All(host.Outbound.Wire.Where((_, i) => i % 2 == 0), s => Assert.Null(s.Host));
    }

    [Fact]
    public void Route_UnlabeledCallAddressedToLaneInstance_SteeredToDeclaredBase()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));

        Assert.Equal("127.0.0.1:5102", host.Outbound.Get("http://127.0.0.1:6102/orders/1").AnsweredBy);
        // Labeled the other way: another lane's instance is not base either.
        Assert.Equal("127.0.0.1:5102", host.Outbound.Get("http://127.0.0.1:6102/orders/1", label: "blue").AnsweredBy);
        // The right lane's own instance is left alone.
        Assert.Equal("127.0.0.1:6102", host.Outbound.Get("http://127.0.0.1:6102/orders/1", label: "gray").AnsweredBy);
        Assert.Equal(1, host.Context.CollectStatus().Get("route/orders/base", "routed"));
    }

    [Fact]
    public void Route_LabelWithoutLane_FallsBackToBaseAndCounts()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));

        var result = host.Outbound.Get("http://127.0.0.1:5102/orders/1", label: "blue");

        Assert.Equal("127.0.0.1:5102", result.AnsweredBy);
        // Still propagated: a later hop may have a blue lane.
        Assert.Equal("blue", Assert.Single(host.Outbound.Wire).Header("x-governor-tag"));
        var status = host.Context.CollectStatus();
        Assert.Equal(1, status.Get("route/orders/blue", "labeled"));
        Assert.Equal(1, status.Get("route/orders/blue", "fallbacks"));
        Assert.Equal(0, status.Get("route/orders/blue", "routed"));
    }

    [Fact]
    public void Route_UndeclaredDestination_Untouched()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));

        Assert.Equal("127.0.0.1:7000", host.Outbound.Get("http://127.0.0.1:7000/x", label: "gray").AnsweredBy);
        Assert.Equal("api.example.com", host.Outbound.Get("http://api.example.com/x", label: "gray").AnsweredBy);
        Assert.StartsWith("127.0.0.1:610", host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray").AnsweredBy, StringComparison.Ordinal);
    }

    [Fact]
    public void Route_ServiceCalledByName_RoutedByName()
    {
        var rules = TestRules.Parse(TestRules.Workloads("inventory", null, ("gray", "10.1.0.9:9000")));
        using var host = new GrayHost(rules);

        Assert.Equal("10.1.0.9:9000", host.Outbound.Get("http://inventory:8080/x", label: "gray").AnsweredBy);
        Assert.Equal("10.1.0.9:9000", host.Outbound.Get("http://inventory.shop.svc.cluster.local/x", label: "gray").AnsweredBy);
        Assert.Equal("inventory.example.com", host.Outbound.Get("http://inventory.example.com/x", label: "gray").AnsweredBy);
    }

    [Fact]
    public void Route_PortlessLaneTarget_KeepsTheCallsPort()
    {
        var rules = TestRules.Parse(TestRules.Workloads("orders", null, ("gray", "orders-canary")));
        using var host = new GrayHost(rules);

        Assert.Equal("orders-canary:8080", host.Outbound.Get("http://orders:8080/x", label: "gray").AnsweredBy);
        Assert.Equal("orders-canary", host.Outbound.Get("http://orders/x", label: "gray").AnsweredBy);
    }

    [Fact]
    public void Route_HostHeader_OriginalByDefaultDestinationWhenConfigured()
    {
        using (var host = new GrayHost(TestRules.Parse(Orders)))
        {
            host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray");
            host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray", configure: r => r.Headers.Host = "orders.internal");
            Assert.Equal("127.0.0.1:5102", host.Outbound.Wire[0].Host);
            Assert.Equal("orders.internal", host.Outbound.Wire[1].Host);
        }

        using (var host = new GrayHost(TestRules.Parse(Orders), settings: new Dictionary<string, string> { ["hostHeader"] = "destination" }))
        {
            host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray");
            Assert.Null(host.Outbound.Wire[0].Host);
        }
    }

    [Fact]
    public void Route_LaneInstanceRefuses_RetriedOnceOnBaseThenEjected()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "127.0.0.1:6102"))));
        host.Outbound.Down.Add("127.0.0.1:6102");

        var first = host.Outbound.Get("http://127.0.0.1:5102/orders/1", label: "gray");
        var second = host.Outbound.Get("http://127.0.0.1:5102/orders/1", label: "gray");

        Assert.Null(first.Error);
        Assert.Equal("127.0.0.1:5102", first.AnsweredBy);
        Assert.Equal(2, first.Attempts);
        // The refusing instance is skipped now: straight to base, no second refusal.
        Assert.Equal("127.0.0.1:5102", second.AnsweredBy);
        Assert.Equal(1, second.Attempts);
        Assert.Equal(new[] { "127.0.0.1:6102", "127.0.0.1:5102", "127.0.0.1:5102" }, host.Outbound.Wire.Select(s => s.Uri.Authority));
        // Headers survive the retry unchanged (not added twice).
        Assert.All(host.Outbound.Wire, s => Assert.Equal("gray", s.Header("x-governor-tag")));
        var status = host.Context.CollectStatus();
        Assert.Equal(1, status.Get("route/orders/gray", "refused"));
        Assert.Equal(2, status.Get("route/orders/gray", "fallbacks"));
        Assert.Equal(1, status.Get("route/orders/gray", "routed"));
        Assert.Contains(host.Context.Log.Lines, l => l.Contains("refused the connection", StringComparison.Ordinal));
    }

    [Fact]
    public void Route_LaneInstanceUnreachable_FallsBackLikeARefusal()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "10.9.9.9:8080"))));
        host.Outbound.Unreachable.Add("10.9.9.9:8080");

        var result = host.Outbound.Get("http://127.0.0.1:5102/orders/1", label: "gray");

        Assert.Equal("127.0.0.1:5102", result.AnsweredBy);
        Assert.Equal(2, result.Attempts);
    }

    [Fact]
    public void Route_LaneInstanceAnswersWithAnError_NoFallback()
    {
        // An answer, even 503, came from the lane: gray traffic is not silently moved to base.
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "127.0.0.1:6102"))));
        var handler = Assert.Single(host.Context.Interception.Outbound.Handlers);
        var call = new FakeOutboundCall(new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:5102/x"), new Interception.RequestContext { TrafficLabel = "gray" });
        _ = handler.OnRequestAsync(call, CancellationToken.None);

        var decision = handler.OnCompleted(call, new Interception.OutboundOutcome(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable), null, 0, false));

        Assert.Equal(Interception.OutboundDecision.None, decision);
        Assert.Equal("127.0.0.1:6102", call.Request.RequestUri!.Authority);
    }

    [Fact]
    public void Route_OneOfTwoLaneInstancesRefuses_LaterCallsUseTheOther()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));
        host.Outbound.Down.Add("127.0.0.1:6102");

        var answered = Enumerable.Range(0, 6).Select(_ => host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray").AnsweredBy).ToList();

        Assert.DoesNotContain(null, answered);
        Assert.Equal(1, host.Outbound.Wire.Count(s => s.Uri.Authority == "127.0.0.1:6102"));
        Assert.True(answered.Skip(1).All(a => a == "127.0.0.1:6103"), string.Join(",", answered));
    }

    [Fact]
    public void Route_LaneRefusesNonIdempotentCall_ErrorReachesAppAndInstanceEjected()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "127.0.0.1:6102"))));
        host.Outbound.Down.Add("127.0.0.1:6102");

        var post = host.Outbound.Send(new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:5102/orders") { Content = new StringContent("{}") }, new Interception.RequestContext { TrafficLabel = "gray" });
        var next = host.Outbound.Get("http://127.0.0.1:5102/orders/1", label: "gray");

        Assert.NotNull(post.Error);
        Assert.Equal(1, post.Attempts);
        Assert.Equal("127.0.0.1:5102", next.AnsweredBy);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Route_GrpcCallRefusedByLane_FallsBackToBaseMarkedIdempotentOrNot(bool markedIdempotent)
    {
        // A call the app did not mark idempotent falls back too: nothing of it was sent.
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("inventory", "127.0.0.1:5103", ("gray", "127.0.0.1:6103"))));
        host.Outbound.Down.Add("127.0.0.1:6103");
        var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:5103/shop.inventory.v1.Inventory/GetStock")
        {
            Version = HttpVersion.Version20,
            Content = new ByteArrayContent(new byte[5]),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        if (markedIdempotent)
        {
            request.Headers.TryAddWithoutValidation("grpc-idempotent", "true");
        }

        var result = host.Outbound.Send(request, new Interception.RequestContext { TrafficLabel = "gray" });

        Assert.Null(result.Error);
        Assert.Equal(2, result.Attempts);
        Assert.Equal("127.0.0.1:5103", result.AnsweredBy);
    }

    [Fact]
    public void Route_ObserveMode_CountsAndLogsButNeverRewrites()
    {
        var settings = new Dictionary<string, string> { ["mode"] = "observe" };
        using var host = new GrayHost(TestRules.Parse(Orders), settings: settings);

        var labeled = host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray");
        var steered = host.Outbound.Get("http://127.0.0.1:6102/x");

        Assert.Equal("127.0.0.1:5102", labeled.AnsweredBy);
        Assert.Equal("127.0.0.1:6102", steered.AnsweredBy);
        Assert.All(host.Outbound.Wire, s => Assert.Null(s.Host));
        // Labels still travel: observing is about routing only.
        Assert.Equal("gray", host.Outbound.Wire[0].Header("x-governor-tag"));
        var status = host.Context.CollectStatus();
        Assert.Equal(1, status.Get("route/orders/gray", "routed"));
        Assert.Equal("observe", status.States["route/orders/gray"]);
        Assert.Contains(host.Context.Log.Lines, l => l.StartsWith("Information", StringComparison.Ordinal) && l.Contains("(observe)", StringComparison.Ordinal) && l.Contains("127.0.0.1:6102", StringComparison.Ordinal));
        Assert.Contains("observe", host.Context.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Route_ObserveModeDecisionLog_RateLimited()
    {
        var settings = new Dictionary<string, string> { ["mode"] = "observe" };
        using var host = new GrayHost(TestRules.Parse(Orders), settings: settings);

        for (int i = 0; i < 500; i++)
        {
            host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray");
        }

        Assert.Single(host.Context.Log.Lines, l => l.Contains("(observe)", StringComparison.Ordinal));
        Assert.Equal(500, host.Context.CollectStatus().Get("route/orders/gray", "routed"));
    }

    [Fact]
    public void Route_RulesChange_NewLanesUsedByTheNextCall()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102")));
        Assert.Equal("127.0.0.1:5102", host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray").AnsweredBy);

        host.Publish(TestRules.Parse(Orders));

        Assert.StartsWith("127.0.0.1:61", host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray").AnsweredBy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Route_HandlerFails_NoExceptionEscapesAndFailureLogged()
    {
        using var host = new GrayHost(TestRules.Parse(Orders));
        var handler = Assert.Single(host.Context.Interception.Outbound.Handlers);
        var call = new BrokenCall();

        var pending = handler.OnRequestAsync(call, CancellationToken.None);
        var decision = handler.OnCompleted(call, new Interception.OutboundOutcome(null, new HttpRequestException("x"), 0, false));

        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Null(await pending);
        Assert.Equal(Interception.OutboundDecision.None, decision);
        Assert.Contains(host.Context.Log.Lines, l => l.Contains("fail-open", StringComparison.Ordinal));
    }

    [Fact]
    public void Stop_Unsubscribes_CallsGoOutUnchanged()
    {
        var host = new GrayHost(TestRules.Parse(Orders));
        Assert.NotEmpty(host.Context.Interception.Outbound.Handlers);
        host.Dispose();

        Assert.Empty(host.Context.Interception.Outbound.Handlers);
        Assert.Empty(host.Context.Interception.Inbound.Handlers);
        Assert.Equal("127.0.0.1:5102", host.Outbound.Get("http://127.0.0.1:5102/x", label: "gray").AnsweredBy);
    }

    /// <summary>A call whose request cannot be read: the plugin must not turn that into a failed call.</summary>
    private sealed class BrokenCall : Interception.OutboundCall
    {
        public BrokenCall()
        {
            Context = new Interception.RequestContext { TrafficLabel = "gray" };
            State = new object();
        }

        public override HttpRequestMessage Request => throw new InvalidOperationException("broken call");

        public override bool CanRetry => throw new InvalidOperationException("broken call");

        public override void MarkIdempotent()
        {
        }
    }
}
