using System.Text.Json;
using Governor.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Governor.Plugins.Throttle.Tests.Process;

/// <summary>
/// Outbound throttling end to end: the app (agent attached through DOTNET_STARTUP_HOOKS only)
/// calls its own /load/{name} endpoints through HttpClient, one call per request to /call; the
/// throttle limits those calls by host, port and path, and the app reports what it saw.
/// </summary>
[Collection(OutboundThrottleProcessCollection.Name)]
public sealed class OutboundThrottleProcessTests
{
    private readonly OutboundThrottleAppFixture _fixture;
    private readonly ThrottleAppFixture _app;
    private readonly ITestOutputHelper _output;

    public OutboundThrottleProcessTests(OutboundThrottleAppFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _app = fixture.App;
        _output = output;
    }

    [Fact]
    public void OutboundGrpc_MethodOfAGrpcJsServerOverItsLimit_AppGetsTrailersOnlyResourceExhaustedWithTheMessage()
    {
        // 2 calls a minute to the grpc-js server's greet.Greeter/SayHello; the app makes 5.
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var answers = Enumerable.Range(0, 5)
            .Select(_ => client.GetStringAsync($"{_app.Http1}/callgrpc?address={_fixture.Grpc.Address}").GetAwaiter().GetResult())
            .ToList();
        _output.WriteLine(string.Join("\n", answers));

        // The server answered the first two (status 0 in its trailers); the throttle answered the
        // rest, trailers-only, RESOURCE_EXHAUSTED with the fallback's body as the message.
        Assert.Equal(2, answers.Count(a => a == "{\"http\":200,\"trailersOnly\":false,\"status\":\"0\",\"message\":\"OK\"}"));
        Assert.Equal(3, answers.Count(a => a == $"{{\"http\":200,\"trailersOnly\":true,\"status\":\"8\",\"message\":\"{ThrottleAppFixture.RateFallbackBody}\"}}"));
        _app.Status.WaitFor(s => StatusFile.Counter(s, "throttle", _fixture.GrpcResource, "passed") == 2 && StatusFile.Counter(s, "throttle", _fixture.GrpcResource, "blocked") == 3, what: "2 passed and 3 blocked");
    }

    [Fact]
    public void Outbound_DownstreamPathThrottled_AppGetsTheFallbackResponseForTheCallsNotSent()
    {
        // 20 app requests per second for 3 s, each calling 127.0.0.1:<port>/load/downstream (5 per
        // second allowed). The app's call path warmed up first (calls to an unlimited path), so
        // the load measures the limit rather than the first calls' JIT and connection set-up.
        _app.Load($"rate --url {_app.CallUrl("warm-downstream")} --rate 20 --seconds 1");
        var (load, served) = _app.Offer(_output, $"rate --url {_app.CallUrl("downstream")} --rate 20 --seconds 3", "downstream");
        var seen = load.Signatures;

        Assert.Equal(60, load.Status(200));
        Assert.InRange(served.Count, 13, 17);
        Assert.Equal(served.Count, seen["200|{\"status\":200,\"body\":\"served\",\"header\":null}"]);
        Assert.Equal(60 - served.Count, seen[$"200|{{\"status\":429,\"body\":\"{ThrottleAppFixture.RateFallbackBody}\",\"header\":\"rate\"}}"]);
        string resource = _app.DownstreamResource("downstream");
        _app.Status.WaitFor(s => StatusFile.Counter(s, "throttle", resource, "passed") == served.Count && StatusFile.Counter(s, "throttle", resource, "blocked") == 60 - served.Count, what: "the outbound resource's counts");
    }

    [Fact]
    public Task HotReload_OutboundThresholdLoweredFrom100To20UnderLoad_TakesEffectWithin2Seconds() =>
        HotReloadScenario.RunAsync(_app, _output, inbound: false);

    [Fact]
    public void Outbound_ExceptionModeSetInGovernorJson_AppSeesThrottledExceptionAsHttpRequestException()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        string Call() => client.GetStringAsync(_app.CallUrl("refused")).GetAwaiter().GetResult();

        // The default: the fallback response (429, the default body).
        Assert.Contains("\"status\":429", Call(), StringComparison.Ordinal);

        // The setting is re-read every 2 s.
        string CallUntil(string expected)
        {
            string seen = Call();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!seen.Contains(expected, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
                seen = Call();
            }

            return seen;
        }

        _app.Home.WriteConfig("""{ "plugins": { "throttle": { "outboundRejection": "exception" } } }""");
        try
        {
            string seen = CallUntil("\"exception\"");
            _output.WriteLine(seen);
            var json = JsonDocument.Parse(seen).RootElement;
            Assert.Equal("Governor.Plugins.Throttle.ThrottledException", json.GetProperty("exception").GetString());
            Assert.True(json.GetProperty("isHttpRequestException").GetBoolean());
            Assert.Equal(429, json.GetProperty("statusCode").GetInt32());
            Assert.Contains(_app.DownstreamResource("refused"), json.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal(0, _app.Served("refused").Count);
        }
        finally
        {
            // Back to the default before the next test.
            _app.Home.WriteConfig("""{ "plugins": { "throttle": { "outboundRejection": "response" } } }""");
            Assert.Contains("\"status\":429", CallUntil("\"status\":429"), StringComparison.Ordinal);
        }
    }
}
