using System.Text.Json;
using Governor.Plugins.Outbound.Testing;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.HttpClient.Tests.Process;

/// <summary>
/// OutboundApp with the agent attached through DOTNET_STARTUP_HOOKS only. The recording test
/// plugin adds <c>x-governor-recorded: rec-&lt;attempt&gt;</c> to every request and records every
/// call; the blocking test plugin answers calls that carry <c>x-block</c>, retries /count/ and
/// greet.Greeter/SayHello once, and reroutes /reroute/ to the app's own port.
/// </summary>
[Collection(OutboundProcessCollection.Name)]
public sealed class OutboundProcessTests
{
    private static readonly string[] s_httpCases = { "new-httpclient", "httpclienthandler", "socketshttphandler", "sync-send", "factory-named", "factory-typed" };

    private readonly OutboundAppsFixture _apps;

    public OutboundProcessTests(OutboundAppsFixture apps) => _apps = apps;

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task SendAsync_EveryClientStyleAndGrpc_IsRecordedAndTheAddedHeaderReachesTheServer(string tfm)
    {
        var app = _apps.Get(tfm);
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/http?grpc={_apps.Grpc.Address}&run={run}");

        foreach (string name in s_httpCases)
        {
            var result = OutboundApp.Case(results, $"{run}:{name}");
            Assert.True(result.GetProperty("status").GetInt32() == 200, $"{name}: {result}");
            // The server saw the header the handler added: the request was changed before it left.
            Assert.Equal("rec-0", result.GetProperty("echoedHeader").GetString());
            var record = Assert.Single(app.OutboundRecords($"{run}:{name}"));
            Assert.Equal("GET", record.GetProperty("method").GetString());
            Assert.Equal($"{app.BaseAddress}/headers", record.GetProperty("uri").GetString());
            Assert.Equal(200, record.GetProperty("status").GetInt32());
            Assert.Equal(0, record.GetProperty("attempt").GetInt32());
            Assert.False(record.GetProperty("answered").GetBoolean());
            Assert.False(record.GetProperty("grpc").GetBoolean());
            Assert.True(record.GetProperty("canRetry").GetBoolean());
            Assert.False(record.GetProperty("context").GetBoolean());
        }

        var post = OutboundApp.Case(results, $"{run}:post-echo");
        Assert.Equal("echo:ping", post.GetProperty("body").GetString());
        var postRecord = Assert.Single(app.OutboundRecords($"{run}:post-echo"));
        Assert.Equal("POST", postRecord.GetProperty("method").GetString());
        Assert.False(postRecord.GetProperty("canRetry").GetBoolean());

        var hello = OutboundApp.Case(results, $"{run}:grpc-sayhello");
        Assert.Equal(0, hello.GetProperty("grpcStatus").GetInt32());
        Assert.Equal("Hello governor from grpc-js", hello.GetProperty("body").GetString());
        // grpc-js echoes x-* request metadata: the header added over HTTP/2 reached the peer.
        Assert.Equal("rec-0", hello.GetProperty("echoedHeader").GetString());
        var helloRecord = Assert.Single(app.OutboundRecords($"{run}:grpc-sayhello"));
        Assert.True(helloRecord.GetProperty("grpc").GetBoolean());
        Assert.Equal("/greet.Greeter/SayHello", helloRecord.GetProperty("grpcMethod").GetString());
        Assert.Equal("2.0", helloRecord.GetProperty("version").GetString());
        Assert.Equal(200, helloRecord.GetProperty("status").GetInt32());

        Assert.Equal(5, OutboundApp.Case(results, $"{run}:grpc-fail").GetProperty("grpcStatus").GetInt32());
        Assert.Single(app.OutboundRecords($"{run}:grpc-fail"));
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task OnRequestAsync_BlockingHandlerAnswers_EveryStyleGetsTheAnswerAndTheGrpcClientTheStatus(string tfm)
    {
        var app = _apps.Get(tfm);
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/http?grpc={_apps.Grpc.Address}&run={run}&block=true");

        foreach (string name in s_httpCases.Append("post-echo"))
        {
            var result = OutboundApp.Case(results, $"{run}:{name}");
            Assert.True(result.GetProperty("status").GetInt32() == OutboundAppsFixture.BlockStatus, $"{name}: {result}");
            Assert.Equal(OutboundAppsFixture.BlockBody, result.GetProperty("body").GetString());
            var record = Assert.Single(app.OutboundRecords($"{run}:{name}"));
            Assert.True(record.GetProperty("answered").GetBoolean());
            Assert.Equal(OutboundAppsFixture.BlockStatus, record.GetProperty("status").GetInt32());
        }

        foreach (string name in new[] { "grpc-sayhello", "grpc-fail" })
        {
            var result = OutboundApp.Case(results, $"{run}:{name}");
            // What the app's gRPC client reports: the handler's status from a trailers-only answer.
            Assert.True(result.GetProperty("grpcStatus").GetInt32() == OutboundAppsFixture.GrpcBlockStatus, $"{name}: {result}");
            Assert.Equal(OutboundAppsFixture.GrpcBlockMessage, result.GetProperty("grpcMessage").GetString());
            var record = Assert.Single(app.OutboundRecords($"{run}:{name}"));
            Assert.True(record.GetProperty("answered").GetBoolean());
            Assert.Equal(OutboundAppsFixture.GrpcBlockStatus, record.GetProperty("grpcStatusFromHeaders").GetInt32());
        }
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task OnCompleted_RetryDecision_ResendsIdempotentCallsOnceAndNeverPost(string tfm)
    {
        var app = _apps.Get(tfm);
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/retry?grpc={_apps.Grpc.Address}&id={run}");

        // The server counted the calls it received.
        Assert.Equal("2", OutboundApp.Case(results, $"{run}:hits-get").GetProperty("body").GetString());
        Assert.Equal("1", OutboundApp.Case(results, $"{run}:hits-post").GetProperty("body").GetString());
        Assert.Equal("hit 2", OutboundApp.Case(results, $"{run}:retry-get").GetProperty("body").GetString());
        var get = app.OutboundRecords($"{run}:retry-get", count: 2);
        Assert.Equal(new[] { 0, 1 }, get.Select(r => r.GetProperty("attempt").GetInt32()).ToArray());
        // OnRequestAsync ran again before the resend: the header carries the attempt.
        Assert.Equal("x-governor-recorded: rec-1", get[1].GetProperty("addedHeader").GetString());
        var post = Assert.Single(app.OutboundRecords($"{run}:retry-post"));
        Assert.False(post.GetProperty("canRetry").GetBoolean());

        // gRPC: retried only when marked idempotent (grpc-idempotent: true).
        Assert.Equal(0, OutboundApp.Case(results, $"{run}:retry-grpc-idempotent").GetProperty("grpcStatus").GetInt32());
        var idempotent = app.OutboundRecords($"{run}:retry-grpc-idempotent", count: 2);
        Assert.Equal(new[] { 0, 1 }, idempotent.Select(r => r.GetProperty("attempt").GetInt32()).ToArray());
        Assert.Single(app.OutboundRecords($"{run}:retry-grpc-plain"));
    }

    [Fact]
    public async Task OnRequestAsync_HandlerChangesTheDestination_TheCallReachesTheNewPort()
    {
        var app = _apps.Get("net10.0");
        string run = OutboundApp.NewRun();
        int nobody = AppProcess.FreePort();

        var results = await app.Run($"/run/reroute?port={nobody}&run={run}");

        var result = OutboundApp.Case(results, $"{run}:reroute");
        Assert.True(result.GetProperty("status").GetInt32() == 200, result.ToString());
        Assert.Equal("rerouted", result.GetProperty("body").GetString());
        var record = Assert.Single(app.OutboundRecords($"{run}:reroute"));
        Assert.Contains($":{nobody}/", record.GetProperty("uriAtRequest").GetString());
        Assert.Equal($"{app.BaseAddress}/reroute/here", record.GetProperty("uri").GetString());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task Context_SetAroundTheAppsCode_ReachesCallsFromAwaitTaskRunThreadPoolTimerAndSql_NotCallsOutside(string tfm)
    {
        var app = _apps.Get(tfm);
        string label = OutboundApp.NewRun();

        var results = await app.Run($"/run/context?label={label}");

        Assert.All(results, r => Assert.True(r.GetProperty("error").ValueKind == JsonValueKind.Null, r.ToString()));
        foreach (string flow in new[] { "ctx-await", "ctx-taskrun", "ctx-taskrun-continuation", "ctx-threadpool", "ctx-timer" })
        {
            var record = Assert.Single(app.OutboundRecords($"{label}:{flow}"));
            Assert.True(record.GetProperty("trafficLabel").GetString() == label, $"{flow}: {record}");
            Assert.Equal(label, record.GetProperty("baggage").GetProperty("probe").GetString());
        }

        var sql = Assert.Single(app.SqlRecords($"{label}:ctx-sql"));
        Assert.Equal(label, sql.GetProperty("trafficLabel").GetString());
        foreach (string outside in new[] { "ctx-suppressed", "ctx-background" })
        {
            var record = Assert.Single(app.OutboundRecords($"{label}:{outside}"));
            Assert.False(record.GetProperty("context").GetBoolean(), $"{outside}: {record}");
        }
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task Context_OfTheInboundRequest_ReachesCallsFromAwaitTaskRunThreadPoolTimerAndSql_NotCallsOutside(string tfm)
    {
        var app = _apps.Get(tfm);
        string label = OutboundApp.NewRun();

        // No test plugin sets the context here: the aspnetcore plugin makes the context an inbound
        // handler (the inbound recording test plugin) created current for the app's code.
        var results = await app.Run($"/run/context?label={label}&probe=false", inboundContext: true);

        Assert.All(results, r => Assert.True(r.GetProperty("error").ValueKind == JsonValueKind.Null, r.ToString()));
        foreach (string flow in new[] { "ctx-await", "ctx-taskrun", "ctx-taskrun-continuation", "ctx-threadpool", "ctx-timer" })
        {
            var record = Assert.Single(app.OutboundRecords($"{label}:{flow}"));
            Assert.True(record.GetProperty("context").GetBoolean(), $"{flow}: {record}");
            Assert.Equal("/run/context", record.GetProperty("inboundResource").GetString());
        }

        Assert.Equal("/run/context", Assert.Single(app.SqlRecords($"{label}:ctx-sql")).GetProperty("inboundResource").GetString());
        foreach (string outside in new[] { "ctx-suppressed", "ctx-background" })
        {
            Assert.False(Assert.Single(app.OutboundRecords($"{label}:{outside}")).GetProperty("context").GetBoolean(), outside);
        }
    }

    [Fact]
    public async Task Patch_WithoutReadyToRunExclusion_HotPatchesPrecompiledCodeAnswersAndTheAgentWarnsOnce()
    {
        var app = _apps.Get("net10.0");
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/http?grpc={_apps.Grpc.Address}&run={run}&block=true");

        Assert.Contains("hot-patched precompiled code", app.PluginDetail("httpclient"));
        Assert.Equal(OutboundAppsFixture.BlockStatus, OutboundApp.Case(results, $"{run}:socketshttphandler").GetProperty("status").GetInt32());
        string log = ProcessLog(app);
        var warnings = log.Split('\n').Where(l => l.Contains("[WRN]", StringComparison.Ordinal) && l.Contains("DOTNET_ReadyToRunExcludeList", StringComparison.Ordinal)).ToList();
        var warning = Assert.Single(warnings);
        Assert.Contains("Set DOTNET_ReadyToRunExcludeList=System.Net.Http ", warning);
        Assert.Contains("cannot answer or retry", warning);
    }

    [Fact]
    public async Task Patch_WithReadyToRunExclusion_JitCompiledPatchAnswersAndNoWarning()
    {
        var app = _apps.Get("net10.0", "r2r");
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/http?grpc={_apps.Grpc.Address}&run={run}&block=true");

        Assert.Contains("JIT-compiled", app.PluginDetail("httpclient"));
        Assert.Equal(OutboundAppsFixture.BlockStatus, OutboundApp.Case(results, $"{run}:httpclienthandler").GetProperty("status").GetInt32());
        Assert.Equal(OutboundAppsFixture.GrpcBlockStatus, OutboundApp.Case(results, $"{run}:grpc-sayhello").GetProperty("grpcStatus").GetInt32());
        Assert.DoesNotContain("does not list", ProcessLog(app));
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task Listener_PatchingOff_ChangesHeadersAndBlocksByException_CannotAnswerOrRetry(string tfm)
    {
        var app = _apps.Get(tfm, "listener");
        string run = OutboundApp.NewRun();

        string detail = app.PluginDetail("httpclient");
        Assert.Contains("DiagnosticListener 'HttpHandlerDiagnosticListener' (patching is unavailable", detail);
        Assert.Contains("lost without the patch: answers", detail);

        var passed = await app.Run($"/run/http?grpc={_apps.Grpc.Address}&run={run}");
        foreach (string name in s_httpCases)
        {
            Assert.Equal("rec-0", OutboundApp.Case(passed, $"{run}:{name}").GetProperty("echoedHeader").GetString());
            Assert.Equal(200, Assert.Single(app.OutboundRecords($"{run}:{name}")).GetProperty("status").GetInt32());
        }

        Assert.Equal("rec-0", OutboundApp.Case(passed, $"{run}:grpc-sayhello").GetProperty("echoedHeader").GetString());

        string blockedRun = OutboundApp.NewRun();
        var blocked = await app.Run($"/run/http?grpc={_apps.Grpc.Address}&run={blockedRun}&block=true");
        foreach (string name in s_httpCases)
        {
            var result = OutboundApp.Case(blocked, $"{blockedRun}:{name}");
            Assert.Equal("System.Net.Http.HttpRequestException", result.GetProperty("errorType").GetString());
            Assert.Equal(OutboundAppsFixture.BlockStatus, result.GetProperty("status").GetInt32());
            Assert.True(Assert.Single(app.OutboundRecords($"{blockedRun}:{name}")).GetProperty("answered").GetBoolean());
        }

        // Without the patch the gRPC client sees a transport failure, not the handler's status.
        var grpc = OutboundApp.Case(blocked, $"{blockedRun}:grpc-sayhello");
        Assert.Equal(14, grpc.GetProperty("grpcStatus").GetInt32());
        Assert.Contains($"grpc-status {OutboundAppsFixture.GrpcBlockStatus}", grpc.GetProperty("grpcMessage").GetString());

        string retryRun = OutboundApp.NewRun();
        var retried = await app.Run($"/run/retry?grpc={_apps.Grpc.Address}&id={retryRun}");
        Assert.Equal("1", OutboundApp.Case(retried, $"{retryRun}:hits-get").GetProperty("body").GetString());
        Assert.Single(app.OutboundRecords($"{retryRun}:retry-get"));
    }

    private static string ProcessLog(OutboundApp app)
    {
        var text = new System.Text.StringBuilder();
        foreach (string file in Directory.EnumerateFiles(app.Home.LogDirectory, $"*-{app.Process.Id}-*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            text.Append(reader.ReadToEnd());
        }

        return text.ToString();
    }
}
