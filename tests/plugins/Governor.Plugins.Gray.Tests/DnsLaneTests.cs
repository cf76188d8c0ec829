using System.Collections.Concurrent;
using Governor.Plugins.Gray.Routing;
using Governor.Plugins.Gray.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.Gray.Tests;

/// <summary>The one-Kubernetes-Service-per-lane convention, with a scripted resolver.</summary>
public sealed class DnsLaneTests
{
    [Fact]
    public void Route_LaneServiceExists_FirstCallBaseWhileLookingUpThenLane()
    {
        var dns = new ScriptedDns("orders-gray");
        using var host = new GrayHost(TestRules.Parse(), resolve: dns.Resolve);

        // The call path never waits for DNS: the first call goes to base and queues a lookup.
        Assert.Equal("orders:8080", host.Outbound.Get("http://orders:8080/x", label: "gray").AnsweredBy);
        dns.WaitForLookups(1);
        WaitUntil(() => host.Outbound.Get("http://orders:8080/x", label: "gray").AnsweredBy == "orders-gray:8080");

        Assert.Equal("orders-gray:8080", host.Outbound.Get("http://orders:8080/x", label: "gray").AnsweredBy);
        Assert.Equal("orders:8080", host.Outbound.Wire[^1].Host);
        Assert.Equal(1, dns.Count("orders-gray"));
    }

    [Fact]
    public void Route_LaneServiceMissing_BaseAndNegativeAnswerCached()
    {
        var dns = new ScriptedDns();
        using var host = new GrayHost(TestRules.Parse(), resolve: dns.Resolve);

        host.Outbound.Get("http://inventory/x", label: "gray");
        dns.WaitForLookups(1);
        Thread.Sleep(50);
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal("inventory", host.Outbound.Get("http://inventory/x", label: "gray").AnsweredBy);
        }

        Assert.Equal(1, dns.Count("inventory-gray"));
        var status = host.Context.CollectStatus();
        Assert.Equal(21, status.Get("route/inventory/gray", "fallbacks"));
    }

    [Fact]
    public void Route_AnswerExpires_RefreshedInBackgroundWhileOldAnswerServes()
    {
        var dns = new ScriptedDns("orders-gray");
        var settings = new Dictionary<string, string> { ["dns:ttl"] = "200ms", ["dns:negativeTtl"] = "200ms" };
        using var host = new GrayHost(TestRules.Parse(), settings: settings, resolve: dns.Resolve);
        host.Outbound.Get("http://orders/x", label: "gray");
        WaitUntil(() => host.Outbound.Get("http://orders/x", label: "gray").AnsweredBy == "orders-gray");

        dns.Existing.Clear();
        Thread.Sleep(300);
        // Expired: this call still uses the old answer and triggers the refresh.
        Assert.Equal("orders-gray", host.Outbound.Get("http://orders/x", label: "gray").AnsweredBy);
        WaitUntil(() => host.Outbound.Get("http://orders/x", label: "gray").AnsweredBy == "orders");

        Assert.True(dns.Count("orders-gray") >= 2);
    }

    [Fact]
    public void Route_ClusterNames_TemplateAppliedToFirstLabel()
    {
        var dns = new ScriptedDns("orders-canary-gray.shop.svc.cluster.local");
        var settings = new Dictionary<string, string> { ["dns:template"] = "{service}-canary-{label}" };
        using var host = new GrayHost(TestRules.Parse(), settings: settings, resolve: dns.Resolve);

        host.Outbound.Get("http://orders.shop.svc.cluster.local:8080/x", label: "GRAY");
        dns.WaitForLookups(1);

        WaitUntil(() => host.Outbound.Get("http://orders.shop.svc.cluster.local:8080/x", label: "GRAY").AnsweredBy == "orders-canary-gray.shop.svc.cluster.local:8080");
    }

    [Theory]
    [InlineData("http://api.example.com/x")]
    [InlineData("http://10.0.0.5:8080/x")]
    [InlineData("http://localhost:8080/x")]
    [InlineData("http://[::1]:8080/x")]
    public void Route_NotAClusterName_NeverLookedUp(string url)
    {
        var dns = new ScriptedDns();
        using var host = new GrayHost(TestRules.Parse(), resolve: dns.Resolve);

        host.Outbound.Get(url, label: "gray");
        Thread.Sleep(50);
        Assert.Equal(0, dns.Total);

        // A cluster name is looked up.
        host.Outbound.Get("http://orders/x", label: "gray");
        dns.WaitForLookups(1);
        Assert.Equal(1, dns.Count("orders-gray"));
    }

    [Fact]
    public void Route_UnlabeledOrDnsOff_NeverLookedUp()
    {
        var dns = new ScriptedDns("orders-gray");
        using (var host = new GrayHost(TestRules.Parse(), resolve: dns.Resolve))
        {
            host.Outbound.Get("http://orders/x");
            Thread.Sleep(50);
            Assert.Equal(0, dns.Total);
            host.Outbound.Get("http://orders/x", label: "gray");
            dns.WaitForLookups(1);
        }

        using (var host = new GrayHost(TestRules.Parse(), settings: new Dictionary<string, string> { ["dns:enabled"] = "false" }, resolve: dns.Resolve))
        {
            host.Outbound.Get("http://orders/x", label: "gray");
        }

        Thread.Sleep(50);
        Assert.Equal(1, dns.Total);
    }

    [Fact]
    public void Route_DeclaredService_RulesWinOverDns()
    {
        var dns = new ScriptedDns("orders-gray");
        using var host = new GrayHost(TestRules.Parse(TestRules.Workloads("orders", null, ("gray", "10.0.0.9:80"))), resolve: dns.Resolve);

        Assert.Equal("10.0.0.9", host.Outbound.Get("http://orders/x", label: "gray").AnsweredBy);
        Assert.Equal(0, dns.Total);
    }

    [Fact]
    public void Route_LaneServiceRefuses_FallsBackAndIsSkipped()
    {
        var dns = new ScriptedDns("orders-gray");
        using var host = new GrayHost(TestRules.Parse(), resolve: dns.Resolve);
        host.Outbound.Get("http://orders/x", label: "gray");
        WaitUntil(() => host.Outbound.Get("http://orders/x", label: "gray").AnsweredBy == "orders-gray");
        host.Outbound.Down.Add("orders-gray");

        var refused = host.Outbound.Get("http://orders/x", label: "gray");
        var after = host.Outbound.Get("http://orders/x", label: "gray");

        Assert.Equal("orders", refused.AnsweredBy);
        Assert.Equal(2, refused.Attempts);
        Assert.Equal("orders", after.AnsweredBy);
        Assert.Equal(1, after.Attempts);
    }

    [Fact]
    public void LaneHost_LabelNotUsableInDns_NoLookup()
    {
        using var lanes = new DnsLanes("{service}-{label}", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), (_, _) => { });

        Assert.Equal("orders-gray", lanes.LaneHost("orders", "gray"));
        Assert.Equal("orders-gray.ns.svc", lanes.LaneHost("orders.ns.svc", "Gray"));
        Assert.Null(lanes.LaneHost("orders", "gray_1"));
        Assert.Null(lanes.LaneHost("orders", "v1.2"));
        Assert.Null(lanes.LaneHost(new string('o', 60), "gray"));
    }

    private static void WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            Thread.Sleep(10);
        }
    }

    /// <summary>A resolver that knows a fixed set of names and counts lookups.</summary>
    private sealed class ScriptedDns
    {
        private readonly ConcurrentDictionary<string, int> _lookups = new(StringComparer.OrdinalIgnoreCase);

        public ScriptedDns(params string[] existing)
        {
            foreach (string name in existing)
            {
                Existing[name] = true;
            }
        }

        public ConcurrentDictionary<string, bool> Existing { get; } = new(StringComparer.OrdinalIgnoreCase);

        public int Total => _lookups.Values.Sum();

        public int Count(string name) => _lookups.TryGetValue(name, out int n) ? n : 0;

        public async Task<bool> Resolve(string name, CancellationToken cancellationToken)
        {
            await Task.Yield();
            _lookups.AddOrUpdate(name, 1, (_, n) => n + 1);
            return Existing.ContainsKey(name);
        }

        public void WaitForLookups(int count) => WaitUntil(() => Total >= count);
    }
}
