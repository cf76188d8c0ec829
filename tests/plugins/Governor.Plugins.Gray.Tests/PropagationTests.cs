using Governor.Interception;
using Governor.Plugins.Gray.Propagation;
using Governor.Plugins.Gray.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.Gray.Tests;

/// <summary>The label on outbound calls: W3C baggage entry OpenSergo-Label and the plain header.</summary>
public sealed class PropagationTests
{
    [Fact]
    public void Propagate_LabeledCall_BaggageAndHeaderAdded()
    {
        using var host = new GrayHost(TestRules.Parse());

        host.Outbound.Get("http://api.example.com/x", label: "gray");

        var sent = Assert.Single(host.Outbound.Wire);
        Assert.Equal("gray", sent.Header("x-governor-tag"));
        Assert.Equal("OpenSergo-Label=gray", sent.Header("baggage"));
        Assert.Equal(1, host.Context.CollectStatus().Get("outbound/gray", "propagated"));
    }

    [Fact]
    public void Propagate_UnlabeledCall_NothingAdded()
    {
        using var host = new GrayHost(TestRules.Parse());

        host.Outbound.Get("http://api.example.com/x");
        host.Outbound.Send(new HttpRequestMessage(HttpMethod.Get, "http://api.example.com/y"), new RequestContext());
        host.Outbound.Get("http://api.example.com/z", label: "gray");

        Assert.All(host.Outbound.Wire.Take(2), sent =>
        {
            Assert.Null(sent.Header("x-governor-tag"));
            Assert.Null(sent.Header("baggage"));
        });
        Assert.Equal("gray", host.Outbound.Wire[2].Header("x-governor-tag"));
    }

    [Theory]
    [InlineData("userId=7", "userId=7,OpenSergo-Label=gray")]
    [InlineData("userId=7;prop=1, session=abc", "userId=7;prop=1, session=abc,OpenSergo-Label=gray")]
    [InlineData("OpenSergo-Label=blue,userId=7", "userId=7,OpenSergo-Label=gray")]
    [InlineData("userId=7, opensergo-label=blue;p=1", "userId=7,OpenSergo-Label=gray")]
    [InlineData("OpenSergo-Label=gray", "OpenSergo-Label=gray")]
    public void Propagate_ExistingBaggage_MergedKeepingOtherEntries(string existing, string expected)
    {
        using var host = new GrayHost(TestRules.Parse());

        host.Outbound.Get("http://api.example.com/x", label: "gray", configure: r => r.Headers.TryAddWithoutValidation("baggage", existing));

        var sent = Assert.Single(host.Outbound.Wire);
        Assert.Equal(expected, sent.Header("baggage"));
        Assert.Equal("gray", sent.Header("x-governor-tag"));
    }

    [Fact]
    public void Propagate_TwoBaggageHeaders_JoinedIntoOneList()
    {
        using var host = new GrayHost(TestRules.Parse());

        host.Outbound.Get("http://api.example.com/x", label: "gray", configure: r =>
        {
            r.Headers.TryAddWithoutValidation("baggage", "a=1");
            r.Headers.TryAddWithoutValidation("baggage", "b=2");
        });

        Assert.Equal("a=1,b=2,OpenSergo-Label=gray", Assert.Single(host.Outbound.Wire).Header("baggage"));
    }

    [Fact]
    public void Propagate_StaleHeaderForwardedByApp_ReplacedByRequestLabel()
    {
        using var host = new GrayHost(TestRules.Parse());

        host.Outbound.Get("http://api.example.com/x", label: "gray", configure: r => r.Headers.TryAddWithoutValidation("x-governor-tag", "blue"));

        Assert.Equal("gray", Assert.Single(host.Outbound.Wire).Header("x-governor-tag"));
    }

    [Fact]
    public void Propagate_ConfiguredHeader_UsedForOutputAndInput()
    {
        var settings = new Dictionary<string, string> { ["header"] = "X-Lane" };
        using var host = new GrayHost(TestRules.Parse(), settings: settings);

        host.Outbound.Get("http://api.example.com/x", label: "gray");
        var inbound = host.Inbound(new FakeInboundCall().WithHeader("x-lane", "blue"));

        var sent = Assert.Single(host.Outbound.Wire);
        Assert.Equal("gray", sent.Header("x-lane"));
        Assert.Null(sent.Header("x-governor-tag"));
        Assert.Equal("blue", inbound);
    }

    [Fact]
    public void Propagate_AppLabelsCallItself_CarriersCompletedAndRouted()
    {
        // An entry app that labels by its own logic (OpenSergo's "add the header" style), outside any request.
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "127.0.0.1:6102"))));

        var result = host.Outbound.Get("http://127.0.0.1:5102/orders/1", configure: r => r.Headers.TryAddWithoutValidation("x-mse-tag", "gray"));

        Assert.Equal("127.0.0.1:6102", result.AnsweredBy);
        var sent = Assert.Single(host.Outbound.Wire);
        Assert.Equal("gray", sent.Header("x-governor-tag"));
        Assert.Equal("OpenSergo-Label=gray", sent.Header("baggage"));
    }

    [Fact]
    public void Propagate_UntrustedInboundLabelForwardedByApp_StrippedFromOutboundCalls()
    {
        var settings = new Dictionary<string, string> { ["trustInboundLabel"] = "false" };
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", "127.0.0.1:5102", ("gray", "127.0.0.1:6102"))), settings: settings);
        var inbound = new FakeInboundCall().WithHeader("x-governor-tag", "gray");
        host.Inbound(inbound);

        // The app copies the incoming headers onto its own call (a proxy does).
        var result = host.Outbound.Send(
            new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:5102/orders/1")
            {
                Headers = { { "x-governor-tag", "gray" }, { "baggage", "a=1,OpenSergo-Label=gray" } },
            },
            inbound.ContextIfCreated);

        Assert.Equal("127.0.0.1:5102", result.AnsweredBy);
        var sent = Assert.Single(host.Outbound.Wire);
        Assert.Null(sent.Header("x-governor-tag"));
        Assert.Equal("a=1", sent.Header("baggage"));
    }

    [Theory]
    [InlineData("OpenSergo-Label=gray", "gray")]
    [InlineData("a=1, OpenSergo-Label = gray ;p=2,b=3", "gray")]
    [InlineData("a=1", null)]
    [InlineData("OpenSergo-Labels=gray", null)]
    [InlineData("x=OpenSergo-Label=gray", null)]
    public void TryFindBaggageLabel_W3cList_FindsOnlyTheExactMember(string baggage, string? expected)
    {
        bool found = LabelCarrier.TryFindBaggageLabel(baggage, out var label);

        Assert.Equal(expected is not null, found);
        if (expected is not null)
        {
            Assert.Equal(expected, label.ToString());
        }
    }

    [Fact]
    public async Task Propagate_LabelFromTaskRunAndAwait_CarriedByExecutionContext()
    {
        using var host = new GrayHost(TestRules.Parse(TestRules.LabelRule("r", "gray", null, null, TestRules.Header("X-User-Id", "==", "1"))));
        var inbound = new FakeInboundCall().WithHeader("X-User-Id", "1");
        host.Inbound(inbound);

        // What the inbound provider does: the context is current while the app runs.
        RequestContext.SetCurrent(inbound.ContextIfCreated);
        try
        {
            await Task.Run(async () =>
            {
                await Task.Yield();
                host.Outbound.Send(new HttpRequestMessage(HttpMethod.Get, "http://api.example.com/x"), RequestContext.Current);
            });
        }
        finally
        {
            RequestContext.SetCurrent(null);
        }

        Assert.Equal("gray", Assert.Single(host.Outbound.Wire).Header("x-governor-tag"));
    }
}
