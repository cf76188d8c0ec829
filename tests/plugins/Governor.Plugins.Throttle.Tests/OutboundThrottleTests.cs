using System.Net;
using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;
using static Governor.Plugins.Throttle.Tests.Fakes.TestRules;

namespace Governor.Plugins.Throttle.Tests;

public sealed class OutboundThrottleTests
{
    private static readonly string s_fallback = Document("HttpRequestFallbackAction", "busy", "behavior: ReturnProvidedResponse", "behaviorDesc:", "  responseStatusCode: 503", "  responseContentBody: downstream busy", "  responseAdditionalHeaders:", "    - { key: Retry-After, value: '1' }", "    - { key: X-Throttled-By, value: governor }");

    [Fact]
    public async Task OnRequestAsync_HostOverThreshold_ReturnsFallbackWithoutSending()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 2), s_fallback, Rule("r", new[] { "rl" }, "busy", "api.example.com")));
        int sent = 0;
        Task Network()
        {
            sent++;
            return Task.CompletedTask;
        }

        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://api.example.com/v1/orders", network: Network)).StatusCode);
        }

        var response = await host.SendAsync("https://API.example.com/other", network: Network);

        Assert.Equal(2, sent);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("downstream busy", await response.Content.ReadAsStringAsync());
        Assert.Equal("1", Assert.Single(response.Headers.GetValues("Retry-After")));
        Assert.Equal("governor", Assert.Single(response.Headers.GetValues("X-Throttled-By")));
        Assert.NotNull(response.RequestMessage);
    }

    [Fact]
    public async Task OnRequestAsync_NoFallback_Returns429NamingTheHost()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "api.example.com")));

        var response = await host.SendAsync("http://api.example.com/x");

        Assert.Equal((HttpStatusCode)429, response.StatusCode);
        Assert.Contains("'api.example.com'", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task OnRequestAsync_HostAndPort_MatchesThatPortOnly()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "api.example.com:8443")));

        Assert.Equal((HttpStatusCode)429, (await host.SendAsync("https://api.example.com:8443/a")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://api.example.com/a")).StatusCode);
    }

    [Fact]
    public async Task OnRequestAsync_DefaultPortWritten_MatchesImplicitPort()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "api.example.com:443")));

        Assert.Equal((HttpStatusCode)429, (await host.SendAsync("https://api.example.com/a")).StatusCode);
    }

    [Fact]
    public async Task OnRequestAsync_HostAndPath_MatchesThatPathOnly()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "api.example.com/v1/orders")));

        Assert.Equal((HttpStatusCode)429, (await host.SendAsync("https://api.example.com/v1/orders/")).StatusCode);
        Assert.Equal((HttpStatusCode)429, (await host.SendAsync("https://api.example.com/v1/orders?page=2")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://api.example.com/v1/customers")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://other.example.com/v1/orders")).StatusCode);
    }

    [Fact]
    public async Task OnRequestAsync_UrlWrittenAsTarget_IsReadAsHostAndPath()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "http://localhost:5005/api")));

        Assert.Equal((HttpStatusCode)429, (await host.SendAsync("http://localhost:5005/api")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("http://localhost:5006/api")).StatusCode);
    }

    [Fact]
    public async Task OnRequestAsync_GrpcCallThrottled_ReturnsTrailersOnlyResourceExhausted()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "grpc.example.com/greet.Greeter/SayHello")));

        var response = await host.SendAsync("https://grpc.example.com/greet.Greeter/SayHello", grpc: true);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("8", Assert.Single(response.Headers.GetValues("grpc-status")));
        Assert.Contains("greet.Greeter", Uri.UnescapeDataString(Assert.Single(response.Headers.GetValues("grpc-message"))));
    }

    [Fact]
    public async Task OnRequestAsync_ExceptionModeConfigured_ThrowsThrottledHttpRequestException()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "api.example.com")), settings: new Dictionary<string, string> { ["outboundRejection"] = "exception" });

        var ex = await Assert.ThrowsAsync<ThrottledException>(() => host.SendAsync("https://api.example.com/x"));

        Assert.IsAssignableFrom<HttpRequestException>(ex);
        Assert.Equal((HttpStatusCode)429, ex.StatusCode);
        Assert.Equal("api.example.com", ex.Resource);
        Assert.Equal("rl", ex.Strategy);
        Assert.Contains("Governor throttled the outbound call to 'api.example.com' (RateLimitStrategy 'rl')", ex.Message);
    }

    [Fact]
    public async Task Reload_OutboundThreshold100To20_TakesEffectAtOnce()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 100), Rule("r", "rl", "api.example.com")));
        for (int i = 0; i < 30; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://api.example.com/x")).StatusCode);
        }

        host.Reload(Join(RateLimit("rl", 20), Rule("r", "rl", "api.example.com")));

        Assert.Equal((HttpStatusCode)429, (await host.SendAsync("https://api.example.com/x")).StatusCode);
    }

    [Fact]
    public async Task OnCompleted_OutboundConcurrency_ReleasesPermitAfterEachAttempt()
    {
        using var host = new ThrottleHost(Join(Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: 1", "limitMode: Local"), Rule("r", "cl", "api.example.com")));

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://api.example.com/x")).StatusCode);
        }

        Assert.Equal(0, host.Context.CollectStatus().Gauges[("api.example.com", "inFlight")]);
    }

    [Fact]
    public async Task OnRequestAsync_RetryWithoutCompletion_GivesBackThePreviousAttemptsPermit()
    {
        using var host = new ThrottleHost(Join(Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: 1", "limitMode: Local"), Rule("r", "cl", "api.example.com")));
        var handler = host.Outbound.Handlers.Single();
        var call = new FakeOutboundCall("https://api.example.com/x");

        Assert.Null(await handler.OnRequestAsync(call, CancellationToken.None));
        call.NextAttempt();
        Assert.Null(await handler.OnRequestAsync(call, CancellationToken.None));
        handler.OnCompleted(call, default);

        Assert.Equal(0, host.Context.CollectStatus().Gauges[("api.example.com", "inFlight")]);
    }

    [Fact]
    public async Task OnRequestAsync_QueuedOutboundCallCancelled_TakesNoPermitAndThrowsCancellation()
    {
        string rules = Join(
            Document("ThrottlingStrategy", "smooth", "minIntervalOfRequests: 50ms", "queueTimeout: 1s"),
            Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: 5", "limitMode: Local"),
            Rule("r", new[] { "smooth", "cl" }, null, "api.example.com"));
        using var host = new ThrottleHost(rules);
        Assert.Equal(HttpStatusCode.OK, (await host.SendAsync("https://api.example.com/x")).StatusCode);

        using var cts = new CancellationTokenSource();
        var queued = PipelineDriver.SendAsync(host.Outbound, new FakeOutboundCall("https://api.example.com/x"), cancellationToken: cts.Token);
        Assert.False(queued.IsCompleted);
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal(0, host.Context.CollectStatus().Gauges[("api.example.com", "inFlight")]);
    }

    [Fact]
    public async Task OnRequestAsync_OutboundPassPath_AllocatesNothing()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 1_000_000), Rule("r", "rl", "api.example.com", "api.example.com/v1/orders")));
        var handler = host.Outbound.Handlers.Single();
        var call = new FakeOutboundCall("https://api.example.com/v1/orders");
        for (int i = 0; i < 1000; i++)
        {
            await handler.OnRequestAsync(call, CancellationToken.None);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            var result = handler.OnRequestAsync(call, CancellationToken.None);
            Assert.Null(result.Completed());
            handler.OnCompleted(call, default);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
