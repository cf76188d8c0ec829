using System.Net;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.Gray.Tests.Process;

/// <summary>Full-link gray release across five real services (see <see cref="GrayChain"/>).</summary>
[Collection(GrayProcessCollection.Name)]
public sealed class GrayChainTests : IClassFixture<GrayChain>
{
    private const string GrayPath = "gateway@base > a@gray > b@gray";
    private const string BasePath = "gateway@base > a@base > b@base";

    private readonly GrayChain _chain;

    public GrayChainTests(GrayChain chain) => _chain = chain;

    [Fact]
    public async Task Chain_ThousandMatchingRequests_AllTraverseGatewayAGrayBGray()
    {
        var before = await SnapshotAsync();

        var results = await _chain.SendAsync(1000, _ => _chain.Request("/index", ("X-User-Id", "12345")));

        var after = await SnapshotAsync();
        Assert.All(results, r => Assert.Equal((HttpStatusCode.OK, GrayPath), r));
        // Counted by the servers themselves: every request reached both gray instances, none a base one.
        Assert.Equal(1000, after.AGray.Served - before.AGray.Served);
        Assert.Equal(1000, after.BGray.Served - before.BGray.Served);
        Assert.Equal(0, after.A.Served - before.A.Served);
        Assert.Equal(0, after.B.Served - before.B.Served);
        // The gRPC hop carried both carriers.
        Assert.Equal(1000, after.BGray.BaggageLabel("gray") - before.BGray.BaggageLabel("gray"));
        Assert.Equal(1000, after.BGray.HeaderLabel("gray") - before.BGray.HeaderLabel("gray"));
        // The app's own tracing baggage (set at the gateway) rode along with the label on both hops.
        Assert.Equal(1000, after.AGray.Tenant - before.AGray.Tenant);
        Assert.Equal(1000, after.BGray.Tenant - before.BGray.Tenant);
    }

    [Fact]
    public async Task Chain_ThousandOtherRequests_NeverTouchAGrayInstance()
    {
        var before = await SnapshotAsync();

        // 1,000 others, with 100 matching requests interleaved (every 11th) to show the lanes are live meanwhile.
        var results = await _chain.SendAsync(1100, i => (i % 11) switch
        {
            10 => _chain.Request("/index", ("X-User-Id", "12345")),
            0 or 1 => _chain.Request("/index", ("X-User-Id", "12346")),
            2 or 3 => _chain.Request("/chain", ("X-User-Id", "12345")),
            4 or 5 => _chain.Request("/index"),
            // Labels forged from outside, in every carrier: the gateway does not trust them.
            6 or 7 => _chain.Request("/index", ("x-governor-tag", "gray"), ("X-User-Id", "1")),
            _ => _chain.Request("/index", ("baggage", "OpenSergo-Label=gray"), ("x-mse-tag", "gray")),
        });

        var after = await SnapshotAsync();
        var others = results.Where((_, i) => i % 11 != 10).ToList();
        var matching = results.Where((_, i) => i % 11 == 10).ToList();
        Assert.Equal(1000, others.Count);
        Assert.All(others, r => Assert.Equal((HttpStatusCode.OK, BasePath), r));
        Assert.All(matching, r => Assert.Equal((HttpStatusCode.OK, GrayPath), r));
        // Counted by the servers: the gray instances served exactly the 100 matching requests.
        Assert.Equal(100, after.AGray.Served - before.AGray.Served);
        Assert.Equal(100, after.BGray.Served - before.BGray.Served);
        Assert.Equal(1000, after.A.Served - before.A.Served);
        Assert.Equal(1000, after.B.Served - before.B.Served);
        // And no label leaked to a base instance, not even one forged at the edge.
        Assert.Equal(0, after.A.HeaderLabel("gray") - before.A.HeaderLabel("gray"));
        Assert.Equal(0, after.A.BaggageLabel("gray") - before.A.BaggageLabel("gray"));
        Assert.Equal(0, after.B.HeaderLabel("gray") - before.B.HeaderLabel("gray"));
        Assert.Equal(0, after.B.BaggageLabel("gray") - before.B.BaggageLabel("gray"));
        // A forged label left the tracing baggage, the app's own item did not.
        Assert.Equal(1000, after.A.Tenant - before.A.Tenant);
        Assert.Equal(1000, after.B.Tenant - before.B.Tenant);
    }

    [Fact]
    public async Task Chain_HopMadeFromTaskRun_CarriesTheLabel()
    {
        // The gateway makes its hop from Task.Run inside the handler: the label rides the ExecutionContext.
        var before = await _chain.StatsAsync(_chain.AGrayPort);

        var results = await _chain.SendAsync(20, _ => _chain.Request("/index", ("X-User-Id", "12345")));

        var after = await _chain.StatsAsync(_chain.AGrayPort);
        Assert.All(results, r => Assert.Equal(GrayPath, r.Via));
        Assert.Equal(20, after.HeaderLabel("gray") - before.HeaderLabel("gray"));
        Assert.Equal(20, after.BaggageLabel("gray") - before.BaggageLabel("gray"));
    }

    [Fact]
    public async Task Status_AfterLabeledTraffic_CountsLabelsAndRoutesPerServiceAndLabel()
    {
        await _chain.SendAsync(10, _ => _chain.Request("/index", ("X-User-Id", "12345")));
        await _chain.SendAsync(5, _ => _chain.Request("/index", ("x-governor-tag", "gray")));

        var gateway = _chain.Home.Status(_chain.Gateway.Id).WaitFor(
            s => StatusFile.Counter(s, "gray", "route/a/gray", "routed") >= 10 && StatusFile.Counter(s, "gray", "inbound", "untrustedLabelsIgnored") >= 5,
            what: "gateway routing counters");
        Assert.Equal("Started", StatusFile.PluginState(gateway, "gray"));
        Assert.True(StatusFile.Counter(gateway, "gray", "inbound/gray", "labeledByRule") >= 10);
        Assert.True(StatusFile.Counter(gateway, "gray", "outbound/gray", "propagated") >= 10);
        Assert.Equal(0, StatusFile.Counter(gateway, "gray", "route/a/gray", "fallbacks"));

        var aGray = _chain.Home.Status(_chain.AGray.Id).WaitFor(
            s => StatusFile.Counter(s, "gray", "route/b/gray", "routed") >= 10 && StatusFile.Counter(s, "gray", "inbound/gray", "labelReceived") >= 10,
            what: "a@gray routing counters");
        Assert.Contains("lane gray (GOVERNOR_TAG)", StatusFile.Plugin(aGray, "gray")!.Value.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private async Task<Snapshot> SnapshotAsync() => new(
        await _chain.StatsAsync(_chain.APort),
        await _chain.StatsAsync(_chain.AGrayPort),
        await _chain.StatsAsync(_chain.BPort, http2: true),
        await _chain.StatsAsync(_chain.BGrayPort, http2: true));

    private sealed record Snapshot(ServedStats A, ServedStats AGray, ServedStats B, ServedStats BGray);
}

/// <summary>A lane instance goes away in the middle of the traffic (its own five services).</summary>
[Collection(GrayProcessCollection.Name)]
public sealed class GrayFallbackTests : IClassFixture<GrayChain>
{
    private readonly GrayChain _chain;

    public GrayFallbackTests(GrayChain chain) => _chain = chain;

    [Fact]
    public async Task Chain_GrayInstanceOfBStopped_MatchingRequestsFallBackToBBaseWithZeroErrors()
    {
        var warm = await _chain.SendAsync(20, _ => _chain.Request("/index", ("X-User-Id", "12345")));
        Assert.All(warm, r => Assert.Equal("gateway@base > a@gray > b@gray", r.Via));
        var before = await _chain.StatsAsync(_chain.BPort, http2: true);

        _chain.BGray.Dispose();
        WaitUntilRefused(_chain.BGrayPort);
        var results = await _chain.SendAsync(500, _ => _chain.Request("/index", ("X-User-Id", "12345")));

        Assert.All(results, r => Assert.Equal((HttpStatusCode.OK, "gateway@base > a@gray > b@base"), r));
        var after = await _chain.StatsAsync(_chain.BPort, http2: true);
        Assert.Equal(500, after.Served - before.Served);
        // Still labeled on base: a later hop with a gray lane would still take it.
        Assert.Equal(500, after.BaggageLabel("gray") - before.BaggageLabel("gray"));
        var aGray = _chain.Home.Status(_chain.AGray.Id).WaitFor(
            s => StatusFile.Counter(s, "gray", "route/b/gray", "fallbacks") >= 500,
            what: "fallback counters of a@gray");
        Assert.True(StatusFile.Counter(aGray, "gray", "route/b/gray", "refused") >= 1);
    }

    private static void WaitUntilRefused(int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                client.Connect(IPAddress.Loopback, port);
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Nothing listens any more; give the callers' connection pools a moment to see their connections close.
                Thread.Sleep(300);
                return;
            }

            Thread.Sleep(50);
        }

        throw new TimeoutException($"port {port} still accepts connections");
    }
}
