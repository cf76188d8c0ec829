using Governor.Interception;
using Governor.Plugins.Throttle.Limiting;
using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;
using static Governor.Plugins.Throttle.Tests.Fakes.TestRules;

namespace Governor.Plugins.Throttle.Tests;

/// <summary>
/// Route template names decided in the provider's route stage, and queued requests whose client
/// goes away (InboundCall.RequestAborted): they stop waiting and give their slot back.
/// </summary>
public sealed class RouteStageAndAbandonTests
{
    private const long Ms = 10_000; // TimeSpan ticks

    private static readonly string s_queue = Join(Document("ThrottlingStrategy", "q", "minIntervalOfRequests: '100ms'", "queueTimeout: '1s'"), Rule("r", "q", "/queued"));

    [Fact]
    public void OnRouteMatchedAsync_TemplateKnownOnlyAfterRouting_RateLimitedThere()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 2), Document("HttpRequestFallbackAction", "fb", "behavior: ReturnProvidedResponse", "behaviorDesc:", "  responseContentBody: orders are busy"), Rule("r", new[] { "rl" }, "fb", "/orders/{id}")));

        var responses = Enumerable.Range(1, 4).Select(i => host.Routed("GET", $"/orders/{i}", "/orders/{id}")).ToList();

        Assert.Equal(2, responses.Count(r => r is null));
        Assert.All(responses.Skip(2), r => Assert.Equal("orders are busy", System.Text.Encoding.UTF8.GetString(r!.Body.Span)));
        // Another template does not count against this one.
        Assert.Null(host.Routed("GET", "/items/1", "/items/{id}"));
        var status = host.Context.CollectStatus();
        Assert.Equal(2, status.Counters[("/orders/{id}", "passed")]);
        Assert.Equal(2, status.Counters[("/orders/{id}", "blocked")]);
    }

    [Fact]
    public void OnRouteMatchedAsync_GrpcMethodEndpointTemplate_ResourceExhausted()
    {
        using var host = new ThrottleHost(Join(RateLimit("rl", 0), Rule("r", "rl", "/greet.Greeter/{method}")));

        var response = host.Routed("POST", "/greet.Greeter/SayHello", "/greet.Greeter/{method}", grpc: true);

        Assert.Equal(8, response!.GrpcStatus);
    }

    [Fact]
    public void RouteHandler_RouteNamesAddedAndRemoved_SubscribedOnlyWhileTheyExist()
    {
        string paths = Join(RateLimit("rl", 5), Rule("r", "rl", "/orders"));
        string routes = Join(RateLimit("rl", 5), Rule("r", "rl", "/orders"), Rule("r2", "rl", "/orders/{id}"));
        using var host = new ThrottleHost(paths);
        Assert.DoesNotContain(host.Inbound.Handlers, h => h is IInboundRouteHandler);

        host.Reload(routes);
        Assert.Single(host.Inbound.Handlers, h => h is IInboundRouteHandler);
        Assert.Equal(1, host.Admitted(1, "GET", "/orders"));

        host.Reload(paths);
        Assert.DoesNotContain(host.Inbound.Handlers, h => h is IInboundRouteHandler);
        host.Dispose();
        Assert.Empty(host.Inbound.Handlers);
    }

    [Fact]
    public async Task OnRouteMatchedAsync_ConcurrencyLimitOnTemplate_PermitGivenBackOnCompletion()
    {
        using var host = new ThrottleHost(Join(Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: 1", "limitMode: Local"), Rule("r", "cl", "/orders/{id}")));
        var inside = new TaskCompletionSource();

        var first = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/orders/1", matchedRoute: "/orders/{id}"), () => inside.Task);
        var second = host.Routed("GET", "/orders/2", "/orders/{id}");
        inside.SetResult();
        await first;

        Assert.Equal(429, second!.StatusCode);
        Assert.Null(host.Routed("GET", "/orders/3", "/orders/{id}"));
        Assert.Equal(0, host.Context.CollectStatus().Gauges[("/orders/{id}", "inFlight")]);
    }

    [Fact]
    public async Task OnRequestAsync_ClientGoneWhileQueued_StopsWaitingAnswersAndCountsAbandoned()
    {
        InlineContinuations();
        using var host = new ThrottleHost(s_queue);
        using var gone = new CancellationTokenSource();
        Assert.Null(host.Request("GET", "/queued"));
        var waiting = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued", aborted: gone.Token));
        Assert.False(waiting.IsCompleted);

        gone.Cancel();

        // Answered without the clock moving (the wait's cancellation resumes on the thread
        // pool): the app never serves it.
        Assert.Equal(499, (await waiting.WaitAsync(TimeSpan.FromSeconds(10)))!.StatusCode);
        var status = host.Context.CollectStatus();
        Assert.Equal(1, status.Counters[("/queued", "abandoned")]);
        Assert.Equal(0, status.Counters[("/queued", "passed")] - 1);
    }

    [Fact]
    public async Task OnRequestAsync_LastWaiterLeaves_NextRequestTakesItsSlot()
    {
        InlineContinuations();
        using var host = new ThrottleHost(s_queue);
        using var gone = new CancellationTokenSource();
        var start = host.Time.Now;
        Assert.Null(host.Request("GET", "/queued"));                                   // goes at 0
        var b = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued")); // slot 100 ms
        var c = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued", aborted: gone.Token)); // slot 200 ms

        gone.Cancel();
        Assert.Equal(499, (await c.WaitAsync(TimeSpan.FromSeconds(10)))!.StatusCode);
        var d = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued"));

        // d got c's slot (200 ms), not the one after it (300 ms).
        host.Time.AdvanceTo(start + TimeSpan.FromMilliseconds(200));
        Assert.True(b.IsCompleted);
        Assert.True(d.IsCompleted);
        Assert.Null(d.Completed());
    }

    [Fact]
    public async Task OnRequestAsync_WaiterInTheMiddleLeaves_NextRequestTakesTheGap()
    {
        InlineContinuations();
        using var host = new ThrottleHost(s_queue);
        using var gone = new CancellationTokenSource();
        var start = host.Time.Now;
        var done = new List<(string Name, double Ms)>();
        Task<InboundResponse?> Send(string name, CancellationToken token = default)
        {
            var task = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued", aborted: token));
            _ = task.ContinueWith(t => done.Add((name, (host.Time.Now - start).TotalMilliseconds)), TaskContinuationOptions.ExecuteSynchronously);
            return task;
        }

        _ = Send("a");                  // 0 ms
        var b = Send("b", gone.Token);  // 100 ms
        _ = Send("c");                  // 200 ms
        gone.Cancel();
        await b.WaitAsync(TimeSpan.FromSeconds(10));
        _ = Send("d");                  // b's 100 ms, not 300 ms

        host.Time.AdvanceTo(start + TimeSpan.FromMilliseconds(400));

        Assert.Equal(new[] { ("a", 0.0), ("b", 0.0), ("d", 100.0), ("c", 200.0) }, done);
    }

    [Fact]
    public async Task OnRequestAsync_EveryWaiterLeavesInArrivalOrder_QueueIsEmptyAgain()
    {
        InlineContinuations();
        using var host = new ThrottleHost(s_queue);
        var start = host.Time.Now;
        Assert.Null(host.Request("GET", "/queued"));
        var sources = Enumerable.Range(0, 5).Select(_ => new CancellationTokenSource()).ToList();
        var waiting = sources.Select(s => PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued", aborted: s.Token))).ToList();

        // Clients time out in the order they came: the first ones are not the last slot.
        foreach (var (source, request) in sources.Zip(waiting))
        {
            source.Cancel();
            Assert.Equal(499, (await request.WaitAsync(TimeSpan.FromSeconds(10)))!.StatusCode);
        }

        host.Time.AdvanceTo(start + TimeSpan.FromMilliseconds(100));
        var next = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued"));

        // The queue forgot all five: 100 ms after the first request the next one goes at once.
        Assert.True(next.IsCompleted);
        Assert.Null(next.Completed());
        Assert.Equal(5, host.Context.CollectStatus().Counters[("/queued", "abandoned")]);
        sources.ForEach(s => s.Dispose());
    }

    [Fact]
    public async Task OnRequestAsync_ClientGoneWhileQueued_RateCountGivenBack()
    {
        InlineContinuations();
        string rules = Join(RateLimit("rl", 2), Document("ThrottlingStrategy", "q", "minIntervalOfRequests: '100ms'", "queueTimeout: '1s'"), Rule("r", "rl", "/queued"), Rule("r2", "q", "/queued"));
        using var host = new ThrottleHost(rules);
        using var gone = new CancellationTokenSource();
        Assert.Null(host.Request("GET", "/queued"));
        var waiting = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued", aborted: gone.Token));

        gone.Cancel();
        Assert.Equal(499, (await waiting.WaitAsync(TimeSpan.FromSeconds(10)))!.StatusCode);
        var next = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/queued"));
        host.Time.Advance(TimeSpan.FromMilliseconds(100));

        // Two per second: the abandoned request no longer counts, so this one is admitted.
        Assert.Null(next.Completed());
    }

    [Fact]
    public async Task OnRequestAsync_OutboundCallerCancelsWhileQueued_SlotGivenBack()
    {
        InlineContinuations();
        string rules = Join(Document("ThrottlingStrategy", "q", "minIntervalOfRequests: '100ms'", "queueTimeout: '1s'"), Rule("r", "q", "api.example.com"));
        using var host = new ThrottleHost(rules);
        using var gone = new CancellationTokenSource();
        var start = host.Time.Now;
        (await host.SendAsync("http://api.example.com/a")).Dispose();
        var cancelled = PipelineDriver.SendAsync(host.Outbound, new FakeOutboundCall("http://api.example.com/b"), cancellationToken: gone.Token);

        gone.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        var next = host.SendAsync("http://api.example.com/c");
        host.Time.AdvanceTo(start + TimeSpan.FromMilliseconds(100));

        Assert.True(next.IsCompleted);
        Assert.Equal(1, host.Context.CollectStatus().Counters[("api.example.com", "abandoned")]);
    }

    [Fact]
    public void Release_LastSlot_TailMovesBack()
    {
        var queue = new UniformQueue(100 * Ms, 1000 * Ms);
        long now = 1_000_000 * Ms;
        Assert.Equal(0, queue.Reserve(now));
        Assert.Equal(100 * Ms, queue.Reserve(now));

        queue.Release(now + (100 * Ms));

        Assert.Equal(100 * Ms, queue.Reserve(now));
        Assert.Equal(0, queue.Gaps);
    }

    [Fact]
    public void Release_SlotInTheMiddle_KeptAsGapForTheNextRequestBeforeItsTime()
    {
        var (queue, now) = QueueWithGapAt100Ms();
        Assert.Equal(1, queue.Gaps);

        Assert.Equal(50 * Ms, queue.Reserve(now + (50 * Ms)));   // the gap at 100
        Assert.Equal(250 * Ms, queue.Reserve(now + (50 * Ms)));  // then after 200, as usual
        Assert.Equal(0, queue.Gaps);
    }

    [Fact]
    public void Release_GapWhoseTimePassed_NotTaken()
    {
        var (queue, now) = QueueWithGapAt100Ms();

        // At 150 ms the gap at 100 ms is gone: taking it now would sit 50 ms before the 200 ms slot.
        Assert.Equal(150 * Ms, queue.Reserve(now + (150 * Ms)));
        Assert.Equal(0, queue.Gaps);
    }

    [Fact]
    public void Release_AllSlotsInArrivalOrder_TailCascadesBackToTheLiveSlot()
    {
        var queue = new UniformQueue(100 * Ms, 1000 * Ms);
        long now = 1_000_000 * Ms;
        queue.Reserve(now);
        var slots = Enumerable.Range(0, 4).Select(_ => now + queue.Reserve(now)).ToList();

        foreach (long slot in slots)
        {
            queue.Release(slot);
        }

        Assert.Equal(0, queue.Gaps);
        Assert.Equal(100 * Ms, queue.Reserve(now));
    }

    [Fact]
    public void Release_ManyGaps_NeverMoreThanCapacityAndReserveStillSpaces()
    {
        var queue = new UniformQueue(10 * Ms, 10_000 * Ms);
        long now = 1_000_000 * Ms;
        var slots = Enumerable.Range(0, 60).Select(_ => now + queue.Reserve(now)).ToList();

        // Give back every other slot but the last: 29 gaps, more than are kept.
        for (int i = 1; i < 58; i += 2)
        {
            queue.Release(slots[i]);
        }

        Assert.Equal(UniformQueue.GapCapacity, queue.Gaps);
        var taken = Enumerable.Range(0, UniformQueue.GapCapacity).Select(_ => now + queue.Reserve(now)).ToHashSet();
        Assert.Equal(UniformQueue.GapCapacity, taken.Count);
        Assert.All(taken, t => Assert.Contains(t, slots));
        Assert.Equal(slots[^1] + (10 * Ms), now + queue.Reserve(now));
    }

    /// <summary>Slots handed out at 0, 100 and 200 ms (100 ms apart), and the one at 100 ms given back.</summary>
    private static (UniformQueue Queue, long Now) QueueWithGapAt100Ms()
    {
        var queue = new UniformQueue(100 * Ms, 1000 * Ms);
        long now = 1_000_000 * Ms;
        for (int i = 0; i < 3; i++)
        {
            queue.Reserve(now);
        }

        queue.Release(now + (100 * Ms));
        return (queue, now);
    }

    private static void InlineContinuations() => SynchronizationContext.SetSynchronizationContext(null);
}
