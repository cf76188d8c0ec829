using Governor.Interception;
using Governor.Plugins.Gray.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.Gray.Tests;

/// <summary>TrafficLabelRules and inbound labels, through the plugin's inbound handler in a real pipeline.</summary>
public sealed class LabelingTests
{
    private const string OpenSergoExample = TestRules.OpenSergoExample;

    [Fact]
    public void Match_OpenSergoExampleAsWritten_LabelsOnlyUser12345OnIndex()
    {
        using var host = new GrayHost(TestRules.Parse(OpenSergoExample), appName: "my-app");

        Assert.Equal("gray", host.Inbound(new FakeInboundCall("/index").WithHeader("X-User-Id", "12345")));
        Assert.Equal("gray", host.Inbound(new FakeInboundCall("/index").WithHeader("x-user-id", "12345")));
        Assert.Null(host.Inbound(new FakeInboundCall("/index").WithHeader("X-User-Id", "12346")));
        Assert.Null(host.Inbound(new FakeInboundCall("/other").WithHeader("X-User-Id", "12345")));
        Assert.Null(host.Inbound(new FakeInboundCall("/index")));
    }

    [Fact]
    public void Match_SelectorNamesAnotherApp_RuleDoesNotApply()
    {
        using var orders = new GrayHost(TestRules.Parse(OpenSergoExample), appName: "orders");
        using var myApp = new GrayHost(TestRules.Parse(OpenSergoExample), appName: "my-app");

        Assert.Null(orders.Inbound(new FakeInboundCall("/index").WithHeader("X-User-Id", "12345")));
        Assert.Equal("gray", myApp.Inbound(new FakeInboundCall("/index").WithHeader("X-User-Id", "12345")));
    }

    [Theory]
    // header
    [InlineData("header", "X-A", "==", "v1", "v1", true)]
    [InlineData("header", "X-A", "==", "v1", "V1", false)]
    [InlineData("header", "X-A", "==", "v1", null, false)]
    [InlineData("header", "X-A", "!=", "v1", "v2", true)]
    [InlineData("header", "X-A", "!=", "v1", "v1", false)]
    [InlineData("header", "X-A", "!=", "v1", null, true)]
    [InlineData("header", "X-A", "in", "[a, b, c]", "b", true)]
    [InlineData("header", "X-A", "in", "[a, b, c]", "d", false)]
    [InlineData("header", "X-A", "in", "\"a, b\"", "b", true)]
    [InlineData("header", "X-A", "in", "[a, b, c]", null, false)]
    [InlineData("header", "X-A", "prefix", "beta-", "beta-7", true)]
    [InlineData("header", "X-A", "prefix", "beta-", "alpha-7", false)]
    [InlineData("header", "X-A", "regex", "\"^[0-9]{3}$\"", "123", true)]
    [InlineData("header", "X-A", "regex", "\"^[0-9]{3}$\"", "1234", false)]
    [InlineData("header", "X-A", "regex", "\"7\"", "x7y", true)]
    // query
    [InlineData("query", "user", "==", "u1", "u1", true)]
    [InlineData("query", "user", "prefix", "u", "v1", false)]
    [InlineData("query", "user", "!=", "u1", null, true)]
    // cookie
    [InlineData("cookie", "lane", "==", "gray", "gray", true)]
    [InlineData("cookie", "lane", "in", "[gray, canary]", "canary", true)]
    [InlineData("cookie", "lane", "regex", "\"^g\"", "blue", false)]
    // path
    [InlineData("path", null, "==", "/index", "/index", true)]
    [InlineData("path", null, "==", "/index", "/Index", false)]
    [InlineData("path", null, "prefix", "/api/v2/", "/api/v2/orders", true)]
    [InlineData("path", null, "regex", "\"^/orders/[0-9]+$\"", "/orders/42", true)]
    [InlineData("path", null, "!=", "/health", "/health", false)]
    // method (case-insensitive: methods are tokens)
    [InlineData("method", null, "==", "post", "POST", true)]
    [InlineData("method", null, "in", "[GET, HEAD]", "POST", false)]
    [InlineData("method", null, "!=", "GET", "DELETE", true)]
    public void Match_EachOperatorOnEachSource_MatchesAsDocumented(string type, string? key, string op, string value, string? actual, bool expected)
    {
        var lines = new List<string> { $"- type: {type}", $"  condition: \"{op}\"", $"  value: {value}" };
        if (key is not null)
        {
            lines.Add($"  key: {key}");
        }

        // A control rule, evaluated first, proves the handler runs even in the rows that expect no label.
        string control = TestRules.LabelRule("control", "control", null, 0, TestRules.Header("X-Control", "==", "\"1\""));
        using var host = new GrayHost(TestRules.Parse(TestRules.Join(control, TestRules.LabelRule("r", "gray", null, null, lines.ToArray()))));
        var call = type switch
        {
            "path" => new FakeInboundCall(actual ?? "/"),
            "method" => new FakeInboundCall("/", actual ?? "GET"),
            _ => new FakeInboundCall(),
        };
        if (actual is not null)
        {
            _ = type switch
            {
                "header" => call.WithHeader(key!, actual),
                "query" => call.WithQuery(key!, actual),
                "cookie" => call.WithCookie(key!, actual),
                _ => call,
            };
        }

        Assert.Equal(expected ? "gray" : null, host.Inbound(call));
        Assert.Equal("control", host.Inbound(new FakeInboundCall().WithHeader("X-Control", "1")));
    }

    [Fact]
    public void Match_ConditionsInOneRule_AreAnded()
    {
        var rule = TestRules.LabelRule("r", "gray", null, null,
            "- type: header", "  key: X-A", "  condition: \"==\"", "  value: 1",
            "- type: query", "  key: q", "  condition: prefix", "  value: x",
            "- type: method", "  condition: \"==\"", "  value: GET");
        using var host = new GrayHost(TestRules.Parse(rule));

        Assert.Equal("gray", host.Inbound(new FakeInboundCall().WithHeader("X-A", "1").WithQuery("q", "xyz")));
        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("X-A", "1")));
        Assert.Null(host.Inbound(new FakeInboundCall("/", "POST").WithHeader("X-A", "1").WithQuery("q", "xyz")));
    }

    [Fact]
    public void Match_SeveralRulesMatch_ExplicitPriorityFirstThenFileThenDocumentOrder()
    {
        var header = TestRules.Header("X-User-Id", "prefix", "1");
        string first = TestRules.Join(
            TestRules.LabelRule("file0-doc0", "doc-order-a", null, null, header),
            TestRules.LabelRule("file0-doc1", "doc-order-b", null, null, header),
            TestRules.LabelRule("file0-doc2-priority-5", "priority-5", null, 5, header));
        string second = TestRules.LabelRule("file1-priority-2", "priority-2", null, 2, header);

        using (var host = new GrayHost(TestRules.Parse(first, second)))
        {
            Assert.Equal("priority-2", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "1")));
        }

        using (var host = new GrayHost(TestRules.Parse(TestRules.Join(
            TestRules.LabelRule("a", "doc-order-a", null, null, header),
            TestRules.LabelRule("b", "doc-order-b", null, null, header)))))
        {
            Assert.Equal("doc-order-a", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "1")));
        }

        // Files in name order: 00-gray.yaml before 01-gray.yaml, whatever the label.
        using (var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("z", "from-file-0", null, null, header), TestRules.LabelRule("a", "from-file-1", null, null, header))))
        {
            Assert.Equal("from-file-0", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "1")));
        }
    }

    [Fact]
    public void Match_FiftyRulesOnOneHeader_ReadsTheHeaderOnce()
    {
        var rules = Enumerable.Range(0, 50).Select(i => TestRules.LabelRule("r" + i, "lane" + i, null, null, TestRules.Header("X-User-Id", "==", (1000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture))));
        using var host = new GrayHost(TestRules.Parse(TestRules.Join(rules.ToArray())));
        var call = new FakeInboundCall().WithHeader("X-User-Id", "1049");

        Assert.Equal("lane49", host.Inbound(call));
        // The gray handler reads its own carriers (2 headers + baggage) and the rule attribute once.
        Assert.Equal(4, call.Reads);
    }

    [Fact]
    public void Match_IndexedAndScannedRules_FirstInPriorityOrderWins()
    {
        // r0 has no equality condition (scanned), r1 and r3 are indexed on X-User-Id, r2 on the method.
        string rules = TestRules.Join(
            TestRules.LabelRule("r0", "scanned-first", null, null, "- type: header", "  key: X-User-Id", "  condition: prefix", "  value: \"9\""),
            TestRules.LabelRule("r1", "indexed-user", null, null, TestRules.Header("X-User-Id", "in", "[\"1\", \"90\"]")),
            TestRules.LabelRule("r2", "indexed-method", null, null, "- type: method", "  condition: \"==\"", "  value: post"),
            TestRules.LabelRule("r3", "indexed-user-late", null, null, TestRules.Header("X-User-Id", "==", "2")));
        using var host = new GrayHost(TestRules.Parse(rules));

        Assert.Equal(2, host.Runtime.State.Matcher.IndexedAttributes);
        Assert.Equal("scanned-first", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "90")));
        Assert.Equal("indexed-user", host.Inbound(new FakeInboundCall("/", "POST").WithHeader("X-User-Id", "1")));
        Assert.Equal("indexed-method", host.Inbound(new FakeInboundCall("/", "POST").WithHeader("X-User-Id", "2")));
        Assert.Equal("indexed-user-late", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "2")));
        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "3")));
    }

    [Fact]
    public void Match_MoreIndexedAttributesThanIndexable_ScansWithTheSameResult()
    {
        var rules = Enumerable.Range(0, 10).Select(i => TestRules.LabelRule("r" + i, "lane" + i, null, null, TestRules.Header("X-H" + i, "==", "v"))).ToArray();
        using var host = new GrayHost(TestRules.Parse(TestRules.Join(rules)));

        Assert.Equal(0, host.Runtime.State.Matcher.IndexedAttributes);
        Assert.Equal("lane3", host.Inbound(new FakeInboundCall().WithHeader("X-H7", "v").WithHeader("X-H3", "v")));
        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("X-H7", "w")));
    }

    [Fact]
    public void Match_MoreAttributesThanCached_StillMatchesEveryCondition()
    {
        var lines = Enumerable.Range(0, 20).SelectMany(i => new[] { "- type: header", $"  key: X-H{i}", "  condition: \"==\"", $"  value: v{i}" }).ToArray();
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("wide", "gray", null, null, lines)));
        var call = new FakeInboundCall();
        for (int i = 0; i < 20; i++)
        {
            call.WithHeader($"X-H{i}", $"v{i}");
        }

        Assert.Equal("gray", host.Inbound(call));
        call.Headers["X-H19"] = "other";
        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("X-H0", "v0")));
    }

    [Fact]
    public void Inbound_NothingMatches_NoContextCreated()
    {
        using var host = new GrayHost(TestRules.Parse(OpenSergoExample), appName: "my-app");
        var call = new FakeInboundCall("/index").WithHeader("X-User-Id", "1");
        var matching = new FakeInboundCall("/index").WithHeader("X-User-Id", "12345");

        host.Inbound(call);
        host.Inbound(matching);

        Assert.Null(call.ContextIfCreated);
        Assert.Equal("gray", matching.ContextIfCreated?.TrafficLabel);
    }

    [Theory]
    [InlineData("x-governor-tag", "gray")]
    [InlineData("X-Governor-Tag", "gray")]
    [InlineData("x-mse-tag", "gray")]
    [InlineData("baggage", "userId=7,OpenSergo-Label=gray;ttl=1, other=x")]
    [InlineData("baggage", "opensergo-label = gray")]
    public void Inbound_TrustedLabelArrives_KeptAndRulesNotEvaluated(string header, string value)
    {
        // The rule would label this request "blue": an arriving label wins over rules.
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "blue", null, null, TestRules.Header("X-User-Id", "==", "1"))));

        var label = host.Inbound(new FakeInboundCall().WithHeader(header, value).WithHeader("X-User-Id", "1"));

        Assert.Equal("gray", label);
        Assert.Equal(1, host.Context.CollectStatus().Get("inbound/gray", "labelReceived"));
        Assert.Equal(0, host.Context.CollectStatus().Get("inbound/blue", "labeledByRule"));
    }

    [Fact]
    public void Inbound_UntrustedLabel_IgnoredRulesDecideAndCounted()
    {
        var settings = new Dictionary<string, string> { ["trustInboundLabel"] = "false" };
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "blue", null, null, TestRules.Header("X-User-Id", "==", "1"))), settings: settings);

        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("x-governor-tag", "gray")));
        Assert.Equal("blue", host.Inbound(new FakeInboundCall().WithHeader("x-mse-tag", "gray").WithHeader("X-User-Id", "1")));
        Assert.Equal(2, host.Context.CollectStatus().Get("inbound", "untrustedLabelsIgnored"));
    }

    [Theory]
    [InlineData("gray lane")]
    [InlineData("gray\r\nx-evil: 1")]
    [InlineData("")]
    public void Inbound_InvalidLabel_IgnoredAndRulesDecide(string value)
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "blue", null, null, TestRules.Header("X-User-Id", "==", "1"))));

        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("x-governor-tag", value)));
        Assert.Equal("blue", host.Inbound(new FakeInboundCall().WithHeader("x-governor-tag", value).WithHeader("X-User-Id", "1")));
        Assert.Equal(2, host.Context.CollectStatus().Get("inbound", "invalidLabelsIgnored"));
    }

    [Fact]
    public void Inbound_LabelByWorkloadOn_UnlabeledRequestTakesInstanceLane()
    {
        var on = new Dictionary<string, string> { ["labelByWorkload"] = "true" };
        using (var host = new GrayHost(TestRules.Parse(), tag: "gray", settings: on))
        {
            Assert.Equal("gray", host.Inbound(new FakeInboundCall()));
            Assert.Equal("blue", host.Inbound(new FakeInboundCall().WithHeader("x-governor-tag", "blue")));
            Assert.Equal(1, host.Context.CollectStatus().Get("inbound/gray", "labeledByWorkload"));
        }

        // Off by default: unlabeled traffic stays base even on a labeled instance (OpenSergo).
        using (var host = new GrayHost(TestRules.Parse(), tag: "gray"))
        {
            Assert.Null(host.Inbound(new FakeInboundCall()));
        }
    }

    [Fact]
    public void WorkloadLabel_TagOrRule_TagWins()
    {
        string rule = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: WorkloadLabelRule
            metadata:
              name: orders-gray-label
            spec:
              workloadLabels: [canary]
              selector:
                app: orders-gray
            """;

        using (var host = new GrayHost(TestRules.Parse(rule), appName: "orders-gray"))
        {
            Assert.Equal("canary", host.Runtime.State.WorkloadLabel);
            Assert.Contains("lane canary (WorkloadLabelRule orders-gray-label)", host.Context.Detail, StringComparison.Ordinal);
        }

        using (var host = new GrayHost(TestRules.Parse(rule), appName: "orders-gray", tag: "gray"))
        {
            Assert.Equal("gray", host.Runtime.State.WorkloadLabel);
        }

        using (var host = new GrayHost(TestRules.Parse(rule), appName: "orders"))
        {
            Assert.Null(host.Runtime.State.WorkloadLabel);
            Assert.Contains("lane base", host.Context.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Rules_ChangedWhileRunning_NewRulesApplyToTheNextRequest()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "gray", null, null, TestRules.Header("X-User-Id", "==", "1"))));
        Assert.Equal("gray", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "1")));

        host.Publish(TestRules.Parse(TestRules.LabelRule("r", "blue", null, null, TestRules.Header("X-User-Id", "==", "2"))));

        Assert.Null(host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "1")));
        Assert.Equal("blue", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "2")));
    }

    [Fact]
    public void Inbound_LabelSetBeforeGray_Kept()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "gray", null, null, TestRules.Header("X-User-Id", "==", "1"))));
        var call = new FakeInboundCall().WithHeader("X-User-Id", "1");
        call.Context.TrafficLabel = "set-by-an-earlier-handler";

        Assert.Equal("set-by-an-earlier-handler", host.Inbound(call));
        Assert.Equal("gray", host.Inbound(new FakeInboundCall().WithHeader("X-User-Id", "1")));
    }

    [Fact]
    public void Inbound_HandlerThrows_RequestGoesOnAndFailureLogged()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "gray", null, null, TestRules.Header("X-User-Id", "==", "1"))));

        Assert.Null(host.Inbound(new ThrowingCall()));
        Assert.Contains(host.Context.Log.Lines, l => l.Contains("fail-open", StringComparison.Ordinal));
    }

    private sealed class ThrowingCall : InboundCall
    {
        public override string Method => throw new InvalidOperationException("broken request");

        public override string Path => throw new InvalidOperationException("broken request");

        public override string? RouteTemplate => null;

        public override string Protocol => "HTTP/1.1";

        public override string Scheme => "http";

        public override string Host => "h";

        public override bool IsGrpc => false;

        public override object NativeContext => this;

        public override string? GetHeader(string name) => throw new InvalidOperationException("broken request");

        public override string? GetQuery(string name) => null;

        public override string? GetCookie(string name) => null;

        public override void AddResponseHeader(string name, string value)
        {
        }
    }
}
