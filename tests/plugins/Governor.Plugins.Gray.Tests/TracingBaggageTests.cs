using System.Diagnostics;
using Governor.Plugins.Gray.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.Gray.Tests;

/// <summary>
/// The app's distributed tracing baggage (Activity.Baggage), which HttpClient writes into the
/// <c>baggage</c> header only when the request has none: the label's header must carry it along,
/// and a forged label must leave it.
/// </summary>
public sealed class TracingBaggageTests
{
    [Fact]
    public void Propagate_ActivityHasBaggage_AppBaggageKeptNextToTheLabel()
    {
        using var host = new GrayHost(TestRules.Parse());
        using var activity = new Activity("request").AddBaggage("userId", "7").Start();

        host.Outbound.Get("http://api.example.com/x", label: "gray");

        string baggage = Assert.Single(host.Outbound.Wire).Header("baggage")!;
        Assert.Contains("userId", baggage, StringComparison.Ordinal);
        Assert.EndsWith("OpenSergo-Label=gray", baggage, StringComparison.Ordinal);
    }

    [Fact]
    public void Propagate_ActivityBaggageCarriesAnotherLabel_ReplacedByTheRequestLabel()
    {
        using var host = new GrayHost(TestRules.Parse());
        using var activity = new Activity("request").AddBaggage("OpenSergo-Label", "blue").AddBaggage("userId", "7").Start();

        host.Outbound.Get("http://api.example.com/x", label: "gray");

        string baggage = Assert.Single(host.Outbound.Wire).Header("baggage")!;
        Assert.DoesNotContain("blue", baggage, StringComparison.Ordinal);
        Assert.Single(baggage.Split(','), m => m.Contains("OpenSergo-Label", StringComparison.Ordinal));
        Assert.Contains("userId", baggage, StringComparison.Ordinal);
    }

    [Fact]
    public void Inbound_UntrustedLabelInActivityBaggage_RemovedOtherItemsKept()
    {
        var settings = new Dictionary<string, string> { ["trustInboundLabel"] = "false" };
        using var host = new GrayHost(TestRules.Parse(), settings: settings);
        // As ASP.NET Core does with an arriving baggage header: its items become the request activity's baggage.
        using var activity = new Activity("request").AddBaggage("OpenSergo-Label", "gray").AddBaggage("userId", "7").Start();

        host.Inbound(new FakeInboundCall().WithHeader("baggage", "OpenSergo-Label=gray,userId=7"));

        Assert.Null(activity.GetBaggageItem("OpenSergo-Label"));
        Assert.Equal("7", activity.GetBaggageItem("userId"));
    }

    [Fact]
    public void Inbound_TrustedLabelInActivityBaggage_Kept()
    {
        using var host = new GrayHost(TestRules.Parse());
        using var activity = new Activity("request").AddBaggage("OpenSergo-Label", "gray").Start();

        Assert.Equal("gray", host.Inbound(new FakeInboundCall().WithHeader("baggage", "OpenSergo-Label=gray")));
        Assert.Equal("gray", activity.GetBaggageItem("OpenSergo-Label"));
    }
}
