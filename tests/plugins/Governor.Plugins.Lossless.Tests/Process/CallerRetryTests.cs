using Governor.Testing;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// The caller's side: a governed app calls a service through a load balancer that still routes
/// half of the new connections to an instance that is going away (its endpoint removal has not
/// propagated yet): one that has stopped accepting, or one that is draining and answers 503 with
/// the lossless notice. Idempotent calls are retried once, transparently; a POST never is.
/// The caller opens a connection per call, so the proxy's round robin sends each retry to the
/// other instance.
/// </summary>
[Collection(LosslessProcessCollection.Name)]
public sealed class CallerRetryTests
{
    private const int Calls = 20;
    private readonly LosslessFixture _fixture;

    public CallerRetryTests(LosslessFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task CallerRetry_InstanceGoneButStillInThePool_IdempotentRetriedOncePostNeverRetried()
    {
        var app = _fixture.LosslessApp;
        using var backend = LosslessInstance.Start(app, null, "backend");
        using var caller = LosslessInstance.Start(app, _fixture.Home, "caller");
        await backend.WaitReadyAsync();
        // The app, not the agent's readiness: with the plugin off the run must reach the assertions.
        await caller.WaitServingAsync();
        await using var proxy = new KubeEndpointsProxy(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50));
        proxy.Add(backend.Name, backend.AppPort, backend.ReadyUrl);
        await proxy.WaitInPoolAsync(backend.Name, TimeSpan.FromSeconds(30));
        proxy.AddStale("gone", AppProcess.FreePort());
        using var http = new HttpClient { BaseAddress = new Uri(caller.AppUrl), Timeout = TimeSpan.FromSeconds(60) };

        var gets = new List<string>();
        var deletes = new List<string>();
        var posts = new List<string>();
        for (int i = 0; i < Calls; i++)
        {
            gets.Add(await http.GetStringAsync($"/call?method=GET&target={Uri.EscapeDataString(proxy.Url + "/work?ms=1")}"));
            deletes.Add(await http.GetStringAsync($"/call?method=DELETE&target={Uri.EscapeDataString(proxy.Url + "/items/1")}"));
            posts.Add(await http.GetStringAsync($"/call?method=POST&target={Uri.EscapeDataString(proxy.Url + "/items")}"));
        }

        // Half of the new connections went to the gone instance: every GET and DELETE still
        // succeeded (the retry went to the other one), POSTs failed there and were not retried.
        Assert.True(proxy.Resets >= Calls, $"only {proxy.Resets} connection(s) met the gone instance");
        Assert.All(gets, r => Assert.Equal("200 done backend", r));
        Assert.All(deletes, r => Assert.Equal("204 ", r));
        int created = posts.Count(r => r.StartsWith("201", StringComparison.Ordinal));
        int failed = posts.Count(r => r.StartsWith("error", StringComparison.Ordinal));
        Assert.Equal(Calls, created + failed);
        Assert.True(failed > 0, "no POST met the gone instance");
        // Never sent twice: the backend counted exactly the POSTs that succeeded.
        using var direct = new HttpClient();
        Assert.Equal(created.ToString(System.Globalization.CultureInfo.InvariantCulture), await direct.GetStringAsync(backend.AppUrl + "/items/count"));
        var status = _fixture.Home.Status(caller.Process.Id).WaitFor(s => StatusFile.Counter(s, "lossless", "caller", "notRetried") == failed, what: $"{failed} POST(s) not retried");
        Assert.True(StatusFile.Counter(status, "lossless", "caller", "retries") >= Calls / 2);
    }

    [Fact]
    public async Task CallerRetry_InstanceDrainingAnswers503WithNotice_IdempotentRetriedOnTheOtherInstance()
    {
        var app = _fixture.LosslessApp;
        using var leaving = LosslessInstance.Start(app, _fixture.Home, "leaving", new() { ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "3s" });
        using var staying = LosslessInstance.Start(app, null, "staying");
        using var caller = LosslessInstance.Start(app, _fixture.Home, "caller");
        await leaving.WaitReadyAsync();
        await staying.WaitReadyAsync();
        await caller.WaitServingAsync();
        // The endpoint removal never reaches this load balancer during the test: both stay in the pool.
        await using var proxy = new KubeEndpointsProxy(TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(50));
        proxy.Add(leaving.Name, leaving.AppPort, leaving.ReadyUrl);
        proxy.Add(staying.Name, staying.AppPort, staying.ReadyUrl);
        await proxy.WaitInPoolAsync(leaving.Name, TimeSpan.FromSeconds(30));
        await proxy.WaitInPoolAsync(staying.Name, TimeSpan.FromSeconds(30));
        using var http = new HttpClient { BaseAddress = new Uri(caller.AppUrl), Timeout = TimeSpan.FromSeconds(60) };
        string call = $"/call?method=GET&target={Uri.EscapeDataString(proxy.Url + "/leaving")}";
        Assert.Equal("200 ok", (await http.GetStringAsync(call))[..6]);

        leaving.Process.Terminate();
        while ((await LosslessInstance.ProbeAsync(leaving.ReadyUrl)).Status == 200)
        {
            await Task.Delay(20);
        }

        // Within the 3 s drain the leaving instance answers 503 with the notice; after it, it refuses (also retried).
        var results = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            results.Add(await http.GetStringAsync(call));
        }

        Assert.All(results, r => Assert.Equal("200 ok staying", r));
        var status = _fixture.Home.Status(caller.Process.Id).WaitFor(s => StatusFile.Counter(s, "lossless", "caller", "retries") >= 4, what: "retries after the notice");
        Assert.True(StatusFile.Counter(status, "lossless", "caller", "notices") >= 1, "the leaving instance's notice was not seen");
        Assert.Equal(0, StatusFile.Counter(status, "lossless", "caller", "notRetried"));
    }
}
