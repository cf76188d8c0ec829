using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.AspNetCore.Tests.Process;

/// <summary>
/// Real app processes of every hosting style, with the agent attached through DOTNET_STARTUP_HOOKS
/// only, seen through the recording and blocking test plugins.
/// </summary>
[Collection(InboundProcessCollection.Name)]
public sealed class InboundProcessTests
{
    private readonly InboundAppsFixture _fixture;

    public InboundProcessTests(InboundAppsFixture fixture) => _fixture = fixture;

    [Theory]
    [InlineData("InboundWebApp", "net8.0")]
    [InlineData("InboundWebApp", "net9.0")]
    [InlineData("InboundWebApp", "net10.0")]
    [InlineData("InboundGenericHostApp", "net8.0")]
    [InlineData("InboundGenericHostApp", "net10.0")]
    [InlineData("InboundWebHostApp", "net8.0")]
    [InlineData("InboundWebHostApp", "net10.0")]
    public async Task Recording_EachHostingStyleAndRuntime_SeesEveryRequestWithRouteStatusAndDuration(string project, string tfm)
    {
        var app = _fixture.Get(project, tfm);
        string tag = RunningApp.NewTag();

        using (var r = await app.SendAsync(HttpMethod.Get, "/items/5", tag))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            // A handler's AddResponseHeader reaches the client (the blocking plugin's pass header).
            Assert.Equal("yes", r.Headers.GetValues("x-governed").Single());
        }

        using (var r = await app.SendAsync(HttpMethod.Get, "/items/6", tag, http2: true))
        {
            Assert.Equal(HttpVersion.Version20, r.Version);
        }

        (await app.SendAsync(HttpMethod.Get, "/slow?ms=150&q=abc", tag)).Dispose();
        (await app.SendAsync(HttpMethod.Get, "/no/such/route", tag)).Dispose();
        string routed = project == "InboundWebHostApp" ? "/" : "/api/orders/9";
        (await app.SendAsync(HttpMethod.Get, routed, tag)).Dispose();

        var item = app.WaitForRecord(tag, "/items/5");
        Assert.Equal("GET", item.GetProperty("method").GetString());
        Assert.Equal("HTTP/1.1", item.GetProperty("protocol").GetString());
        Assert.Equal(JsonValueKind.Null, item.GetProperty("routeAtRequest").ValueKind);
        Assert.Equal("/items/{id:int}", item.GetProperty("route").GetString());
        Assert.Equal(200, item.GetProperty("status").GetInt32());
        Assert.False(item.GetProperty("grpc").GetBoolean());
        Assert.True(item.GetProperty("stateKept").GetBoolean());
        Assert.Equal(tag, item.GetProperty("context").GetString());

        var h2 = app.WaitForRecord(tag, "/items/6");
        Assert.Equal("HTTP/2", h2.GetProperty("protocol").GetString());
        Assert.Equal("/items/{id:int}", h2.GetProperty("route").GetString());
        Assert.Equal($"127.0.0.1:{app.Http2Port}", h2.GetProperty("host").GetString());

        var slow = app.WaitForRecord(tag, "/slow");
        Assert.InRange(slow.GetProperty("durationMs").GetDouble(), 145, 5000);
        Assert.Equal("abc", slow.GetProperty("query").GetProperty("q").GetString());

        var missing = app.WaitForRecord(tag, "/no/such/route");
        if (project == "InboundWebHostApp")
        {
            // The app's terminal middleware answers: no endpoint, so no route template.
            Assert.Equal(200, missing.GetProperty("status").GetInt32());
        }
        else
        {
            Assert.Equal(404, missing.GetProperty("status").GetInt32());
        }

        Assert.Equal(JsonValueKind.Null, missing.GetProperty("route").ValueKind);
        Assert.Equal(project == "InboundWebHostApp" ? "/" : "api/orders/{id}", app.WaitForRecord(tag, routed).GetProperty("route").GetString());

        var status = app.Home.Status(app.Process.Id).WaitFor(s => StatusFile.Plugin(s, "aspnetcore")?.GetProperty("detail").GetString()?.Contains("web host seen", StringComparison.Ordinal) == true, what: "aspnetcore seeing the web host");
        Assert.Contains(project == "InboundWebHostApp" ? "(WebHost)" : "(generic host)", StatusFile.Plugin(status, "aspnetcore")!.Value.GetProperty("detail").GetString());
        var inbound = status.GetProperty("interception").EnumerateArray().Single(p => p.GetProperty("point").GetString() == "inbound");
        Assert.Equal("aspnetcore", inbound.GetProperty("provider").GetString());
    }

    [Theory]
    [InlineData("InboundWebApp", "net10.0")]
    [InlineData("InboundGenericHostApp", "net8.0")]
    [InlineData("InboundWebHostApp", "net10.0")]
    public async Task Blocking_HttpRequestMatchingHeaderOrPath_AnsweredWithConfiguredStatusBodyAndHeaders(string project, string tfm)
    {
        var app = _fixture.Get(project, tfm);
        string tag = RunningApp.NewTag();

        using var byHeader = await app.SendAsync(HttpMethod.Get, "/items/5", tag, false, ("x-block", "1"));
        using var byPath = await app.SendAsync(HttpMethod.Get, "/blocked/here", tag, http2: true);

        foreach (var response in new[] { byHeader, byPath })
        {
            Assert.Equal((HttpStatusCode)429, response.StatusCode);
            Assert.Equal(InboundAppsFixture.BlockBody, await response.Content.ReadAsStringAsync());
            Assert.Equal("7", response.Headers.GetValues("retry-after").Single());
            Assert.Equal("block-plugin", response.Headers.GetValues("x-blocked-by").Single());
            Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        }

        var record = app.WaitForRecord(tag, "/items/5");
        Assert.True(record.GetProperty("answered").GetBoolean());
        Assert.Equal(429, record.GetProperty("status").GetInt32());
        // Answered before routing ran: the app never saw it.
        Assert.Equal(JsonValueKind.Null, record.GetProperty("route").ValueKind);
        Assert.Equal("HTTP/2", app.WaitForRecord(tag, "/blocked/here").GetProperty("protocol").GetString());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public void Grpc_GrpcJsClientCallsUnaryMethods_RecordedWithMethodAndGrpcStatus(string tfm)
    {
        var app = _fixture.Get("InboundWebApp", tfm);
        string tag = RunningApp.NewTag();
        string address = $"127.0.0.1:{app.Http2Port}";

        Assert.Equal("reply status=0 message=Hello ada", GrpcPeer.Call(address, "SayHello", "ada", $"x-test-tag={tag}"));
        Assert.Equal("error status=5 message=no such greeting", GrpcPeer.Call(address, "Fail", "ada", $"x-test-tag={tag}"));

        var ok = app.WaitForRecord(tag, "/greet.Greeter/SayHello");
        Assert.True(ok.GetProperty("grpc").GetBoolean());
        Assert.Equal("/greet.Greeter/SayHello", ok.GetProperty("grpcMethod").GetString());
        Assert.Equal("POST", ok.GetProperty("method").GetString());
        Assert.Equal("HTTP/2", ok.GetProperty("protocol").GetString());
        Assert.Equal(0, ok.GetProperty("grpcStatus").GetInt32());
        Assert.Equal("/greet.Greeter/SayHello", ok.GetProperty("route").GetString());
        Assert.StartsWith("grpc-node-js/", ok.GetProperty("headers").GetProperty("user-agent").GetString());
        var failed = app.WaitForRecord(tag, "/greet.Greeter/Fail");
        Assert.Equal(5, failed.GetProperty("grpcStatus").GetInt32());
        Assert.Equal(200, failed.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public void Blocking_GrpcCall_GrpcJsClientReceivesConfiguredStatusAndMessage(string tfm)
    {
        var app = _fixture.Get("InboundWebApp", tfm);
        string tag = RunningApp.NewTag();

        string verdict = GrpcPeer.Call($"127.0.0.1:{app.Http2Port}", "SayHello", "ada", $"x-test-tag={tag}", "x-block=1");

        Assert.Equal($"error status=8 message={InboundAppsFixture.GrpcBlockMessage}", verdict);
        var record = app.WaitForRecord(tag, "/greet.Greeter/SayHello");
        Assert.True(record.GetProperty("answered").GetBoolean());
        Assert.Equal(8, record.GetProperty("grpcStatus").GetInt32());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task RouteStage_MinimalApiAndController_HandlerSeesTemplateAfterRoutingAndAnswersInsteadOfTheEndpoint(string tfm)
    {
        var app = _fixture.Get("InboundWebApp", tfm);
        string tag = RunningApp.NewTag();

        // Passes: the route handler saw the matched template before the endpoint ran.
        using (var minimal = await app.SendAsync(HttpMethod.Get, "/items/5", tag))
        {
            Assert.Equal(HttpStatusCode.OK, minimal.StatusCode);
            Assert.Equal("/items/{id:int}", minimal.Headers.GetValues("x-route-stage").Single());
        }

        using (var controller = await app.SendAsync(HttpMethod.Get, "/api/orders/9", tag, http2: true))
        {
            Assert.Equal("order 9", await controller.Content.ReadAsStringAsync());
            Assert.Equal("api/orders/{id}", controller.Headers.GetValues("x-route-stage").Single());
        }

        // Answers instead of the endpoint, for a minimal API and a controller action.
        foreach (var (path, template) in new[] { ("/items/6", "/items/{id:int}"), ("/api/orders/10", "api/orders/{id}") })
        {
            using var blocked = await app.SendAsync(HttpMethod.Get, path, tag, false, ("x-route-block", template));
            Assert.Equal((HttpStatusCode)429, blocked.StatusCode);
            Assert.Equal($"route {template} blocked", await blocked.Content.ReadAsStringAsync());
            Assert.Equal("route stage", blocked.Headers.GetValues("x-blocked-at").Single());
            var record = app.WaitForRecord(tag, path);
            Assert.True(record.GetProperty("answered").GetBoolean());
            Assert.Equal(429, record.GetProperty("status").GetInt32());
            // The template stays known at completion although the endpoint never ran.
            Assert.Equal(template, record.GetProperty("route").GetString());
        }

        // A template the request does not match is not answered: the decision really used the template.
        using (var other = await app.SendAsync(HttpMethod.Get, "/items/7", tag, false, ("x-route-block", "api/orders/{id}")))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        // A route handler that waits holds the request before the endpoint, then lets it run (controller: MVC with the endpoint's metadata).
        var clock = Stopwatch.StartNew();
        using (var waited = await app.SendAsync(HttpMethod.Get, "/api/orders/11", tag, false, ("x-route-wait-ms", "300")))
        {
            Assert.Equal("order 11", await waited.Content.ReadAsStringAsync());
        }

        Assert.True(clock.ElapsedMilliseconds >= 290, $"answered after {clock.ElapsedMilliseconds} ms");
        var slow = app.WaitForRecord(tag, "/api/orders/11");
        Assert.Equal(200, slow.GetProperty("status").GetInt32());
        Assert.False(slow.GetProperty("answered").GetBoolean());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public void RouteStage_GrpcMethodEndpoint_GrpcJsClientReceivesStatusFromTheRouteStage(string tfm)
    {
        var app = _fixture.Get("InboundWebApp", tfm);
        string tag = RunningApp.NewTag();

        string verdict = GrpcPeer.Call($"127.0.0.1:{app.Http2Port}", "SayHello", "ada", $"x-test-tag={tag}", "x-route-block=/greet.Greeter/SayHello");

        Assert.Equal("error status=8 message=route /greet.Greeter/SayHello blocked", verdict);
        var record = app.WaitForRecord(tag, "/greet.Greeter/SayHello");
        Assert.True(record.GetProperty("answered").GetBoolean());
        Assert.Equal(8, record.GetProperty("grpcStatus").GetInt32());
    }

    [Fact]
    public async Task Exception_AppThrows_CompletionSeesItAndTheAppsOwnErrorHandlingStillRuns()
    {
        var app = _fixture.Get("InboundWebApp", "net10.0");
        string tag = RunningApp.NewTag();

        using var handled = await app.SendAsync(HttpMethod.Get, "/handled/boom", tag);
        using var unhandled = await app.SendAsync(HttpMethod.Get, "/unhandled/boom", tag);

        // The app's UseExceptionHandler still produced its own answer.
        Assert.Equal(HttpStatusCode.InternalServerError, handled.StatusCode);
        Assert.Equal("app handled: boom handled", await handled.Content.ReadAsStringAsync());
        var seen = app.WaitForRecord(tag, "/handled/boom");
        Assert.Equal("System.InvalidOperationException", seen.GetProperty("exception").GetString());
        Assert.Equal("/handled/boom", seen.GetProperty("route").GetString());
        Assert.Equal(500, seen.GetProperty("status").GetInt32());

        // Nobody in the app handles this one: the server's 500, after Governor rethrew it.
        Assert.Equal(HttpStatusCode.InternalServerError, unhandled.StatusCode);
        var thrown = app.WaitForRecord(tag, "/unhandled/boom");
        Assert.Equal("System.ApplicationException", thrown.GetProperty("exception").GetString());
        Assert.Equal("boom unhandled", thrown.GetProperty("exceptionMessage").GetString());
        Assert.Equal(500, thrown.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task RequestContext_SetByHandler_VisibleInAwaitTaskRunThreadPoolAndTimersNeverLeaked(string tfm)
    {
        var app = _fixture.Get("InboundWebApp", tfm);
        // One connection, so the second request runs where the first one ran.
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { Timeout = TimeSpan.FromSeconds(10) };
        string tag = RunningApp.NewTag();

        using var withContext = new HttpRequestMessage(HttpMethod.Get, app.Http1 + "/context");
        withContext.Headers.Add("x-test-tag", tag);
        string seen = await (await client.SendAsync(withContext)).Content.ReadAsStringAsync();
        using var without = new HttpRequestMessage(HttpMethod.Get, app.Http1 + "/context");
        without.Headers.Add("x-no-context", "1");
        string after = await (await client.SendAsync(without)).Content.ReadAsStringAsync();

        Assert.Equal($"direct={tag};await={tag};taskrun={tag};threadpool={tag};timer={tag};unsafe=(none);background=(none)", seen);
        Assert.Equal("direct=(none);await=(none);taskrun=(none);threadpool=(none);timer=(none);unsafe=(none);background=(none)", after);
    }

    [Fact]
    public void ConsoleApp_AspNetCorePluginEnabled_AppUnaffectedAndPluginReportsNoWebHost()
    {
        var app = TestApps.Publish("tests/apps/ConsoleApp", "net10.0");
        using var home = new AgentHomeCopy();

        using var process = AppProcess.Start(app, "1500", home.Environment());

        var status = home.Status(process.Id).WaitFor(s => StatusFile.PluginState(s, "aspnetcore") == "Started", what: "aspnetcore Started");
        Assert.Equal("no web host seen", StatusFile.Plugin(status, "aspnetcore")!.Value.GetProperty("detail").GetString());
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(20)), "the console app did not exit");
        Assert.Equal(3, process.ExitCode);
        Assert.Equal("console sum=5050 aspnetcore-loaded=False args=1500", process.Output.Trim());
        Assert.DoesNotContain("Error", home.ReadLogs(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("InboundWebApp", "net8.0")]
    [InlineData("InboundWebApp", "net9.0")]
    [InlineData("InboundWebApp", "net10.0")]
    [InlineData("InboundGenericHostApp", "net8.0")]
    [InlineData("InboundWebHostApp", "net10.0")]
    public async Task HostLifecycle_SigtermWithOneSecondStopGate_StartedFiresAndRequestsServedUntilTheGateEnds(string project, string tfm)
    {
        using var home = new AgentHomeCopy();
        home.AddTestPlugin("rec", "Governor.TestPlugins.InboundRecordingPlugin", interceptionPoints: new[] { "inbound" });
        home.AddTestPlugin("life", "Governor.TestPlugins.HostLifecyclePlugin");
        string lifeFile = Path.Combine(home.LogDirectory, "life.txt");
        var settings = InboundAppsFixture.PluginSettings(Path.Combine(home.LogDirectory, "records.jsonl"));
        settings["GOVERNOR_PLUGINS__LIFE__FILE"] = lifeFile;
        settings["GOVERNOR_PLUGINS__LIFE__GATEMS"] = "1000";
        settings["GOVERNOR_PLUGINS__LIFE__MINSHUTDOWN"] = "10s";
        // The app's own shutdown timeout is 0 s: the gate survives only if the plugin's minimum is applied.
        using var app = RunningApp.Start(home, project, tfm, settings, "--shutdownTimeoutSeconds 0");
        string started = WaitForLine(lifeFile, "started", app);
        Assert.Contains($"addresses=http://127.0.0.1:{app.Http1Port},http://127.0.0.1:{app.Http2Port}", started);
        Assert.Contains("self=True", started);
        Assert.Contains("provider=aspnetcore", started);
        string tag = RunningApp.NewTag();

        var clock = Stopwatch.StartNew();
        app.Process.Terminate();
        string gateBegin = WaitForLine(lifeFile, "gate-begin", app);
        // Serve for 700 ms of the 1 s gate, counted from when the gate began (the line's own Unix
        // ms), not from SIGTERM: on a loaded machine noticing the line can take much of that time.
        long serveUntil = long.Parse(gateBegin.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) + 700;
        int served = 0;
        while (served < 3 || DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() < serveUntil)
        {
            if (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() >= serveUntil + 150)
            {
                break;
            }

            using var response = await app.SendAsync(HttpMethod.Get, "/items/1", tag);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            served++;
            await Task.Delay(50);
        }

        Assert.True(app.Process.WaitForExit(TimeSpan.FromSeconds(15)), "the app did not exit after SIGTERM");
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(10));
        Assert.Equal(0, app.Process.ExitCode);
        Assert.True(served >= 3, $"only {served} request(s) served during the gate");
        var lines = File.ReadAllLines(lifeFile);
        long Time(string what) => long.Parse(lines.First(l => l.Contains(' ' + what, StringComparison.Ordinal)).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(lines, l => l.EndsWith(" stopping isStopping=True", StringComparison.Ordinal));
        Assert.True(Time("stopping") <= Time("gate-begin"));
        Assert.InRange(Time("gate-end") - Time("gate-begin"), 990, 5000);
    }

    private static string WaitForLine(string file, string marker, RunningApp app)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(file))
            {
                string? line = File.ReadAllLines(file).FirstOrDefault(l => l.Contains(' ' + marker, StringComparison.Ordinal));
                if (line is not null)
                {
                    return line;
                }
            }

            Thread.Sleep(20);
        }

        throw new TimeoutException($"'{marker}' never appeared in {file}. App output:\n{app.Process.Output}\nAgent log:\n{app.Home.ReadLogs()}");
    }
}
