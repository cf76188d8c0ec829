using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// Readiness, liveness, drain and warm-up on real processes (127.0.0.1, the agent attached through
/// DOTNET_STARTUP_HOOKS only). Timings are checked loosely (the machine is shared and busy):
/// the tests count outcomes and order events rather than measure tight intervals.
/// </summary>
[Collection(LosslessProcessCollection.Name)]
public sealed class LosslessProcessTests
{
    private readonly LosslessFixture _fixture;

    public LosslessProcessTests(LosslessFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task Readiness_StartupWarmupDelayAndSigterm_FailsUntilWarmedUpPassesThenFailsAtOnceWhileServing()
    {
        using var app = LosslessInstance.Start(_fixture.LosslessApp, _fixture.Home, "life", new()
        {
            // A warm-up request of 1.5 s and a startup delay of 1 s: the app serves well before it is ready.
            ["GOVERNOR_PLUGINS__LOSSLESS__WARMUPREQUESTS"] = "/work?ms=1500",
            ["GOVERNOR_PLUGINS__LOSSLESS__WARMUPREPEAT"] = "1",
            ["GOVERNOR_PLUGINS__LOSSLESS__STARTUPDELAY"] = "1s",
        });
        var samples = new List<(double T, int App, int Ready, string Phase, int Live)>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            Assert.False(app.Process.HasExited, app.Process.Output);
            var ready = await LosslessInstance.ProbeAsync(app.ReadyUrl);
            var live = await LosslessInstance.ProbeAsync(app.LiveUrl);
            var served = await LosslessInstance.ProbeAsync(app.AppUrl + "/");
            samples.Add((clock.Elapsed.TotalSeconds, served.Status, ready.Status, ready.Body.Trim(), live.Status));
            if (ready.Status == 200)
            {
                break;
            }

            await Task.Delay(50);
        }

        string trace = string.Join('\n', samples.Select(s => $"{s.T:0.00}s app={s.App} ready={s.Ready} {s.Phase} live={s.Live}"));
        Assert.True(samples[^1].Ready == 200, $"never ready:\n{trace}");
        Assert.Equal("ready", samples[^1].Phase);
        Assert.Contains(samples, s => s.App == 200 && s.Ready == 503 && s.Phase == "warming-up");
        Assert.Contains(samples, s => s.App == 200 && s.Ready == 503 && s.Phase == "delaying");
        Assert.All(samples.Where(s => s.Ready != 0), s => Assert.Equal(200, s.Live));
        double appUp = samples.First(s => s.App == 200).T;
        Assert.True(samples[^1].T - appUp >= 2.0, $"ready only {samples[^1].T - appUp:0.00} s after the app served (warm-up 1.5 s + delay 1 s):\n{trace}");
        var status = _fixture.Home.Status(app.Process.Id).WaitFor(s => State(s) == "ready" && Value(s, "gauges", "ready") == 1, what: "instance ready");
        Assert.True(Value(status, "counters", "readinessProbes") >= 3);
        Assert.Equal(1, Value(status, "counters", "warmupRequests"));

        var stop = Stopwatch.StartNew();
        app.Process.Terminate();
        (int Status, string Body) afterStop;
        do
        {
            afterStop = await LosslessInstance.ProbeAsync(app.ReadyUrl);
        }
        while (afterStop.Status == 200 && stop.Elapsed < TimeSpan.FromSeconds(5));

        Assert.Equal((503, "draining\n"), afterStop);
        // At once: well within one kubelet probe period (2 s as the injector sets it), also on a busy machine.
        Assert.True(stop.Elapsed < TimeSpan.FromSeconds(2), $"readiness failed only {stop.Elapsed.TotalMilliseconds:0} ms after SIGTERM");
        // Still serving and live while readiness fails.
        Assert.Equal(200, (await LosslessInstance.ProbeAsync(app.AppUrl + "/")).Status);
        Assert.Equal(200, (await LosslessInstance.ProbeAsync(app.LiveUrl)).Status);
        Assert.True(await app.WaitExitAsync(TimeSpan.FromSeconds(20)), "the app did not exit after SIGTERM");
        Assert.Equal(0, app.Process.ExitCode);
    }

    [Fact]
    public async Task Drain_RequestsDuringTheDrainDelay_ServedWithConnectionCloseAndNoticeThenRefused()
    {
        using var app = LosslessInstance.Start(_fixture.LosslessApp, _fixture.Home, "drain", new() { ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "3s" });
        await app.WaitReadyAsync();
        using var keepAlive = new HttpClient { BaseAddress = new Uri(app.AppUrl) };
        using (var before = await keepAlive.GetAsync("/"))
        {
            Assert.NotEqual(true, before.Headers.ConnectionClose);
            Assert.False(before.Headers.Contains("x-governor-lossless"));
        }

        app.Process.Terminate();
        await WaitForAsync(async () => (await LosslessInstance.ProbeAsync(app.ReadyUrl)).Status == 503, "readiness to fail");
        var clock = Stopwatch.StartNew();
        int served = 0;
        // The keep-alive connection opened before the stop, then fresh connections.
        using (var onOld = await keepAlive.GetAsync("/work?ms=50"))
        {
            AssertLeaving(onOld);
            served++;
        }

        while (clock.Elapsed < TimeSpan.FromSeconds(1.5))
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.AppUrl) };
            using var response = await client.GetAsync("/");
            AssertLeaving(response);
            served++;
            await Task.Delay(50);
        }

        var status = _fixture.Home.Status(app.Process.Id).WaitFor(s => State(s) == "draining" && Value(s, "counters", "servedWhileDraining") >= served, what: "the drain in the status");
        Assert.Equal(0, Value(status, "gauges", "ready"));
        Assert.True(served >= 5, $"only {served} request(s) during the drain");

        // After the drain the server stops accepting: connections are refused and the app exits.
        await WaitForAsync(async () => !await AcceptsAsync(app.AppPort), "the server to stop accepting", TimeSpan.FromSeconds(15));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5), "the server stopped accepting before the drain delay");
        Assert.True(await app.WaitExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains("Stopped accepting; drained 3.0 s", _fixture.LogOf(app.Process.Id));
    }

    [Fact]
    public async Task Drain_Http2Requests_EachConnectionEndedWithGoAwayAndNoticeSent()
    {
        // Every Kestrel endpoint HTTP/2 only (h2c, prior knowledge): the app is reached over HTTP/2.
        using var app = LosslessInstance.Start(_fixture.LosslessApp, _fixture.Home, "h2", new() { ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "3s" }, "--Kestrel:EndpointDefaults:Protocols=Http2");
        await app.WaitReadyAsync();
        int connections = 0;
        using var client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                Interlocked.Increment(ref connections);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(context.DnsEndPoint, token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        })
        {
            BaseAddress = new Uri(app.AppUrl),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        for (int i = 0; i < 5; i++)
        {
            using var response = await client.GetAsync("/");
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.False(response.Headers.Contains("x-governor-lossless"));
        }

        Assert.Equal(1, Volatile.Read(ref connections));

        app.Process.Terminate();
        await WaitForAsync(async () => (await LosslessInstance.ProbeAsync(app.ReadyUrl)).Status == 503, "readiness to fail");
        int before = Volatile.Read(ref connections);
        const int During = 6;
        for (int i = 0; i < During; i++)
        {
            using var response = await client.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal("shutting-down", string.Join(",", response.Headers.GetValues("x-governor-lossless")));
            // HTTP/2 forbids connection headers: the connection is ended with GOAWAY instead.
            Assert.NotEqual(true, response.Headers.ConnectionClose);
            await Task.Delay(100);
        }

        // Each response's GOAWAY ended its connection: the next request needed a new one.
        Assert.True(Volatile.Read(ref connections) - before >= During - 1, $"{Volatile.Read(ref connections) - before} new connection(s) for {During} requests during the drain");
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task Sigterm_ThreeSecondRequestsInFlight_AllCompleteWith200AndExitAsSoonAsDone(string tfm)
    {
        var published = LosslessFixture.App("LosslessApp", tfm);
        // Both apps set their own shutdown timeout to 1 s: without the agent, Kestrel aborts what is
        // still running after 1 s; the agent raises the minimum and awaits the requests itself.
        using var agent = LosslessInstance.Start(published, _fixture.Home, "inflight", extraArguments: "--shutdownTimeoutSeconds 1");
        using var plain = LosslessInstance.Start(published, null, "inflight-plain", extraArguments: "--shutdownTimeoutSeconds 1");
        await agent.WaitReadyAsync();
        await plain.WaitReadyAsync();

        var withAgent = StartSlowRequests(agent, 8);
        var without = StartSlowRequests(plain, 8);
        await WaitForAsync(() => Task.FromResult(InFlight(agent) >= 8), "8 requests in flight");
        var clock = Stopwatch.StartNew();
        agent.Process.Terminate();
        plain.Process.Terminate();

        var agentResults = await Task.WhenAll(withAgent);
        var plainResults = await Task.WhenAll(without);
        Assert.True(await agent.WaitExitAsync(TimeSpan.FromSeconds(30)));
        var exitedAfter = clock.Elapsed;

        Assert.All(agentResults, r => Assert.Equal("200 done inflight", r));
        Assert.Equal(0, agent.Process.ExitCode);
        // Adaptive: the process exits once the requests are done (about 3 s after they started),
        // not after drainDelay + shutdownTimeout (21.5 s).
        Assert.True(exitedAfter < TimeSpan.FromSeconds(12), $"exited {exitedAfter.TotalSeconds:0.0} s after SIGTERM");
        Assert.Contains("all completed in", _fixture.LogOf(agent.Process.Id));
        Assert.Contains(plainResults, r => !r.StartsWith("200", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net9.0")]
    [InlineData("net10.0")]
    public async Task Sigterm_OldWebHost_ServesWithTheNoticeDuringTheDrainThenAwaitsInFlight(string tfm)
    {
        // WebHost.CreateDefaultBuilder: on .NET 8 it learns of SIGTERM only through ProcessExit,
        // after the agent has stopped its plugins; the drain runs from the SIGTERM handler instead.
        var published = LosslessFixture.App("InboundWebHostApp", tfm);
        using var app = LosslessInstance.Start(published, _fixture.Home, "webhost", new() { ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "3s" });
        await app.WaitReadyAsync();
        var slow = StartSlowRequests(app, 4, "/slow?ms=3000");
        await WaitForAsync(() => Task.FromResult(InFlight(app) >= 4), "4 requests in flight");

        app.Process.Terminate();
        await WaitForAsync(async () => (await LosslessInstance.ProbeAsync(app.ReadyUrl)).Status == 503, "readiness to fail");
        // Served, with the notice, for the drain delay: fresh connections for 1.5 s of the 3 s.
        var clock = Stopwatch.StartNew();
        int served = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(1.5))
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.AppUrl) };
            using var during = await client.GetAsync("/");
            AssertLeaving(during);
            served++;
            await Task.Delay(100);
        }

        Assert.All(await Task.WhenAll(slow), r => Assert.Equal("200 slow done", r));
        Assert.True(await app.WaitExitAsync(TimeSpan.FromSeconds(20)), "the app did not exit after SIGTERM");
        Assert.True(served >= 3, $"only {served} request(s) during the drain");
        Assert.Contains("Stopped accepting; drained 3.0 s", _fixture.LogOf(app.Process.Id));
    }

    [Fact]
    public async Task Sigterm_BeforeTheInstanceWasEverReady_NoDrainDelay()
    {
        using var app = LosslessInstance.Start(_fixture.LosslessApp, _fixture.Home, "early", new()
        {
            ["GOVERNOR_PLUGINS__LOSSLESS__STARTUPDELAY"] = "60s",
            ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "20s",
        });
        await WaitForAsync(async () => (await LosslessInstance.ProbeAsync(app.ReadyUrl)).Body == "delaying\n", "the startup delay");

        var clock = Stopwatch.StartNew();
        app.Process.Terminate();

        Assert.True(await app.WaitExitAsync(TimeSpan.FromSeconds(15)), "a never-ready instance waited for the 20 s drain delay");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Contains("The instance was never ready: no drain delay", _fixture.LogOf(app.Process.Id));
    }

    [Fact]
    public async Task Startup_ProbePortInUseAndGracePeriodTooShort_AppServesNormallyAndBothAreReported()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var app = LosslessInstance.Start(_fixture.LosslessApp, _fixture.Home, "taken", new()
        {
            ["GOVERNOR_PROBE_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["GOVERNOR_PLUGINS__LOSSLESS__TERMINATIONGRACEPERIOD"] = "10s",
        });

        _fixture.Home.Status(app.Process.Id).WaitFor(s => StatusFile.Plugin(s, "lossless")?.GetProperty("detail").GetString()?.Contains("no probes") == true, what: "the probe error in the detail");
        await WaitForAsync(async () => (await LosslessInstance.ProbeAsync(app.AppUrl + "/")).Status == 200, "the app to serve");

        var status = _fixture.Home.Status(app.Process.Id).TryRead()!.Value;
        Assert.Equal("Started", StatusFile.PluginState(status, "lossless"));
        Assert.StartsWith($"no probes: probe port {port} is already in use (127.0.0.1); set GOVERNOR_PROBE_PORT to a free port; ", StatusFile.Plugin(status, "lossless")!.Value.GetProperty("detail").GetString());
        string log = _fixture.LogOf(app.Process.Id);
        Assert.Contains($"[ERR] lossless: Readiness and liveness are not served: probe port {port} is already in use", log);
        Assert.Contains("drainDelay 1.5 s + shutdownTimeout 20 s + 2 s = 24 s does not fit the termination grace period of 10 s (terminationGracePeriod)", log);
    }

    [Fact]
    public async Task ConsoleApp_LosslessEnabled_ReadyAtOnceAndOtherwiseUnaffected()
    {
        var published = LosslessFixture.App("ConsoleApp", "net10.0");
        int probePort = AppProcess.FreePort();
        var env = _fixture.Home.Environment(new() { ["GOVERNOR_PROBE_PORT"] = probePort.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        using var process = AppProcess.Start(published, "4000", env);

        await WaitForAsync(async () => (await LosslessInstance.ProbeAsync($"http://127.0.0.1:{probePort}/governor/ready")).Status == 200, "readiness of the console app");

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(3, process.ExitCode);
        Assert.Equal("console sum=5050 aspnetcore-loaded=False args=4000", process.Output.Trim());
        Assert.Contains("Readiness does not wait for a web host (the app does not use ASP.NET Core hosting)", _fixture.LogOf(process.Id));
    }

    [Fact]
    public async Task Ramp_YoungInstance_AdvertisesAGrowingWeightAndQueuesOverTheConcurrencyCap()
    {
        using var app = LosslessInstance.Start(_fixture.LosslessApp, _fixture.Home, "ramp", new()
        {
            ["GOVERNOR_PLUGINS__LOSSLESS__WARMUPTIME"] = "6s",
            ["GOVERNOR_PLUGINS__LOSSLESS__WARMUPMAXCONCURRENCY"] = "8",
            ["GOVERNOR_PLUGINS__LOSSLESS__WARMUPMINCONCURRENCY"] = "1",
        });
        await app.WaitReadyAsync();

        // 16 requests of 300 ms at once, each on its own connection, right after readiness.
        var burst = Enumerable.Range(0, 16).Select(async _ =>
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.AppUrl), Timeout = TimeSpan.FromSeconds(60) };
            using var response = await client.GetAsync("/work?ms=300");
            return ((int)response.StatusCode, Weight(response));
        }).ToList();
        var results = await Task.WhenAll(burst);

        Assert.All(results, r => Assert.Equal(200, r.Item1));
        // Answered during the ramp (a very slow machine may finish the last ones after it).
        Assert.True(results.Count(r => r.Item2 is >= 1 and <= 99) >= 8, $"weights: {string.Join(",", results.Select(r => r.Item2))}");
        int maxConcurrency = int.Parse(await Get(app, "/concurrency"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(maxConcurrency, 1, 8);
        var status = _fixture.Home.Status(app.Process.Id).WaitFor(s => Value(s, "counters", "queued") > 0, what: "queued requests");
        Assert.Equal(0, Value(status, "counters", "queueTimeouts"));

        // The weight grows with uptime and disappears at the end of the ramp.
        var weights = new List<int>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            using var client = new HttpClient();
            using var response = await client.GetAsync(app.AppUrl + "/");
            int weight = Weight(response);
            weights.Add(weight);
            if (weight == 0)
            {
                break;
            }

            await Task.Delay(200);
        }

        Assert.Equal(0, weights[^1]);
        var ramped = weights.Where(w => w > 0).ToList();
        Assert.True(ramped.Count >= 2, $"weights seen: {string.Join(",", weights)}");
        Assert.Equal(ramped.OrderBy(w => w), ramped);
    }

    private static void AssertLeaving(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.ConnectionClose, "no Connection: close");
        Assert.Equal("shutting-down", string.Join(",", response.Headers.GetValues("x-governor-lossless")));
    }

    private static int Weight(HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-governor-weight", out var values) ? int.Parse(values.First(), System.Globalization.CultureInfo.InvariantCulture) : 0;

    private static List<Task<string>> StartSlowRequests(LosslessInstance app, int count, string path = "/work?ms=3000") => Enumerable.Range(0, count).Select(async _ =>
    {
        using var client = new HttpClient { BaseAddress = new Uri(app.AppUrl), Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            using var response = await client.GetAsync(path);
            return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        }
        catch (Exception ex)
        {
            return ex.GetType().Name;
        }
    }).ToList();

    private long InFlight(LosslessInstance app) => _fixture.Home.Status(app.Process.Id).TryRead() is { } s ? Value(s, "gauges", "inFlight") : 0;

    private static async Task<string> Get(LosslessInstance app, string path)
    {
        using var client = new HttpClient();
        return await client.GetStringAsync(app.AppUrl + path);
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException($"waited {clock.Elapsed.TotalSeconds:0.0} s for {what}");
            }

            await Task.Delay(20);
        }
    }

    private static JsonElement? Instance(JsonElement status)
    {
        foreach (var r in status.GetProperty("resources").EnumerateArray())
        {
            if (r.GetProperty("plugin").GetString() == "lossless" && r.GetProperty("resource").GetString() == "instance")
            {
                return r;
            }
        }

        return null;
    }

    private static string? State(JsonElement status) => Instance(status) is { } r && r.TryGetProperty("state", out var s) ? s.GetString() : null;

    private static long Value(JsonElement status, string kind, string name) =>
        Instance(status) is { } r && r.GetProperty(kind).TryGetProperty(name, out var v) ? (long)v.GetDouble() : -1;
}
