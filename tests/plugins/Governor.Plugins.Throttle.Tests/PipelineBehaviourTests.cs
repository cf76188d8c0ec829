using Governor.Interception;
using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;
using static Governor.Plugins.Throttle.Tests.Fakes.TestRules;

namespace Governor.Plugins.Throttle.Tests;

/// <summary>Queueing and concurrency through the real pipeline: waits, permits, completions.</summary>
public sealed class PipelineBehaviourTests
{
    private static readonly string s_throttling = Join(Document("ThrottlingStrategy", "smooth", "minIntervalOfRequests: '20ms'", "queueTimeout: '100ms'"), Rule("r", "smooth", "/smooth"));

    private static string Concurrency(int max, string target = "/slow") => Join(Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: " + max, "limitMode: Local"), Rule("r", "cl", target));

    [Fact]
    public void OnRequestAsync_BurstUnderThrottling_ReleasesRequestsSpacedByTheInterval()
    {
        InlineContinuations();
        using var host = new ThrottleHost(s_throttling);
        var start = host.Time.Now;
        var released = new List<TimeSpan>();
        var tasks = new List<Task<InboundResponse?>>();
        for (int i = 0; i < 8; i++)
        {
            var task = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/smooth"));
            _ = task.ContinueWith(t => { if (t.Result is null) { released.Add(host.Time.Now - start); } }, TaskContinuationOptions.ExecuteSynchronously);
            tasks.Add(task);
        }

        // The first goes at once; five wait for their slots (20..100 ms; a wait equal to the
        // timeout is allowed) without completing; the rest are rejected at once.
        Assert.Equal(new[] { true, false, false, false, false, false, true, true }, tasks.Select(t => t.IsCompleted));
        Assert.All(tasks.Skip(6), t => Assert.Equal(429, t.Result!.StatusCode));

        for (int ms = 0; ms <= 120; ms++)
        {
            host.Time.AdvanceTo(start + TimeSpan.FromMilliseconds(ms));
        }

        Assert.All(tasks.Take(6), t => Assert.Null(t.Result));
        var admittedAt = released.Order().ToList();
        Assert.Equal(6, admittedAt.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(100), admittedAt[^1]);
        for (int i = 1; i < admittedAt.Count; i++)
        {
            Assert.InRange((admittedAt[i] - admittedAt[i - 1]).TotalMilliseconds, 18, 22);
        }

        Assert.Equal(5, host.Context.CollectStatus().Counters[("/smooth", "queued")]);
    }

    [Fact]
    public void OnRequestAsync_SteadyOverloadUnderThrottling_AdmitsOnePerInterval()
    {
        InlineContinuations();
        using var host = new ThrottleHost(s_throttling);
        var start = host.Time.Now;
        var admittedAt = new List<double>();
        int rejected = 0;

        // 200 requests per second (one every 5 ms) for 1 s against 50 per second.
        for (int i = 0; i < 200; i++)
        {
            host.Time.AdvanceTo(start + TimeSpan.FromMilliseconds(i * 5));
            var task = PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/smooth"));
            _ = task.ContinueWith(t => { if (t.Result is null) { admittedAt.Add((host.Time.Now - start).TotalMilliseconds); } else { rejected++; } }, TaskContinuationOptions.ExecuteSynchronously);
        }

        host.Time.Advance(TimeSpan.FromSeconds(1));

        // Slots every 20 ms; the queue holds up to 100 ms of them.
        Assert.InRange(admittedAt.Count, 54, 56);
        var gaps = admittedAt.Order().Zip(admittedAt.Order().Skip(1), (a, b) => b - a).ToList();
        Assert.All(gaps, g => Assert.InRange(g, 18, 22));
        Assert.Equal(200 - admittedAt.Count, rejected);
    }

    [Fact]
    public async Task OnRequestAsync_TwentyParallelSlowRequests_NeverMoreThanFiveInsideAndNoLeak()
    {
        using var host = new ThrottleHost(Concurrency(5));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int inside = 0;
        int maxInside = 0;

        var requests = Enumerable.Range(0, 20).Select(_ => Task.Run(() => PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/slow"), async () =>
        {
            int now = Interlocked.Increment(ref inside);
            lock (gate)
            {
                maxInside = Math.Max(maxInside, now);
            }

            await gate.Task;
            Interlocked.Decrement(ref inside);
        }))).ToList();

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref inside) < 5 || requests.Count(r => r.IsCompleted) < 15)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"{Volatile.Read(ref inside)} inside and {requests.Count(r => r.IsCompleted)} answered after 10 s");
            await Task.Delay(1);
        }

        Assert.Equal(5, Volatile.Read(ref inside));
        gate.SetResult();
        var responses = await Task.WhenAll(requests);

        Assert.Equal(5, maxInside);
        Assert.Equal(15, responses.Count(r => r?.StatusCode == 429));
        var status = host.Context.CollectStatus();
        Assert.Equal(0, status.Gauges[("/slow", "inFlight")]);
        Assert.Equal(5, status.Counters[("/slow", "passed")]);
        Assert.Equal(15, status.Counters[("/slow", "blocked")]);
    }

    [Fact]
    public async Task OnRequestAsync_ParallelLoadOnTwoCores_NeverExceedsMaxAndNeverLeaks()
    {
        using var host = new ThrottleHost(Concurrency(3));
        int inside = 0;
        int maxInside = 0;
        int admitted = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 2000; i++)
            {
                var response = await PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/slow"), () =>
                {
                    int now = Interlocked.Increment(ref inside);
                    lock (host)
                    {
                        maxInside = Math.Max(maxInside, now);
                    }

                    Thread.SpinWait(50);
                    Interlocked.Decrement(ref inside);
                    return Task.CompletedTask;
                });
                if (response is null)
                {
                    Interlocked.Increment(ref admitted);
                }
            }
        })));

        Assert.InRange(maxInside, 1, 3);
        Assert.True(admitted > 0);
        Assert.Equal(0, host.Context.CollectStatus().Gauges[("/slow", "inFlight")]);
    }

    [Fact]
    public void OnCompleted_LaterHandlerAnswered_PermitIsReleased()
    {
        using var host = new ThrottleHost(Concurrency(1));
        using var _ = host.Inbound.Subscribe(new AnsweringHandler(), 200, "later");

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(418, host.Request("GET", "/slow")!.StatusCode);
        }

        Assert.Equal(0, host.Context.CollectStatus().Gauges[("/slow", "inFlight")]);
    }

    [Fact]
    public async Task OnCompleted_AppThrew_PermitIsReleased()
    {
        using var host = new ThrottleHost(Concurrency(1));

        for (int i = 0; i < 5; i++)
        {
            var response = await PipelineDriver.RunAsync(host.Inbound, new FakeInboundCall("GET", "/slow"), () => throw new InvalidOperationException("app failed"));
            Assert.Null(response);
        }

        Assert.Equal(0, host.Context.CollectStatus().Gauges[("/slow", "inFlight")]);
    }

    [Fact]
    public void OnRequestAsync_RejectedByRateAfterPermitWouldBeTaken_TakesNoPermit()
    {
        string rules = Join(RateLimit("rl", 1), Document("ConcurrencyLimitStrategy", "cl", "maxConcurrency: 5", "limitMode: Local"), Rule("r", new[] { "rl", "cl" }, null, "/both"));
        using var host = new ThrottleHost(rules);
        var handler = host.Inbound.Handlers.Single();
        var first = new FakeInboundCall("GET", "/both");
        Assert.Null(handler.OnRequestAsync(first).Completed());

        for (int i = 0; i < 10; i++)
        {
            Assert.NotNull(host.Request("GET", "/both"));
        }

        Assert.Equal(1, host.Context.CollectStatus().Gauges[("/both", "inFlight")]);
        handler.OnCompleted(first, default);
        Assert.Equal(0, host.Context.CollectStatus().Gauges[("/both", "inFlight")]);
    }

    [Fact]
    public void OnRequestAsync_TwoBindingsWithPermitsSecondFull_GivesBackTheFirst()
    {
        string rules = Join(
            Document("ConcurrencyLimitStrategy", "wide", "maxConcurrency: 10", "limitMode: Local"),
            Document("ConcurrencyLimitStrategy", "narrow", "maxConcurrency: 1", "limitMode: Local"),
            Rule("r1", "wide", "/orders"),
            Rule("r2", "narrow", "POST:/orders"));
        using var host = new ThrottleHost(rules);
        var handler = host.Inbound.Handlers.Single();
        var held = new FakeInboundCall("POST", "/orders");
        Assert.Null(handler.OnRequestAsync(held).Completed());

        Assert.NotNull(host.Request("POST", "/orders"));
        Assert.Null(host.Request("GET", "/orders"));

        var status = host.Context.CollectStatus();
        Assert.Equal(1, status.Gauges[("/orders", "inFlight")]);
        Assert.Equal(1, status.Gauges[("POST:/orders", "inFlight")]);
        handler.OnCompleted(held, default);
        status = host.Context.CollectStatus();
        Assert.Equal(0, status.Gauges[("/orders", "inFlight")]);
        Assert.Equal(0, status.Gauges[("POST:/orders", "inFlight")]);
    }

    [Fact]
    public void OnRequestAsync_ObserveModeOverMaxConcurrency_LetsAllInAndReleasesAll()
    {
        using var host = new ThrottleHost(Concurrency(1), settings: new Dictionary<string, string> { ["observe"] = "true" });
        var handler = host.Inbound.Handlers.Single();
        var calls = Enumerable.Range(0, 3).Select(_ => new FakeInboundCall("GET", "/slow")).ToList();

        Assert.All(calls, c => Assert.Null(handler.OnRequestAsync(c).Completed()));
        calls.ForEach(c => handler.OnCompleted(c, default));

        var status = host.Context.CollectStatus();
        Assert.Equal(2, status.Counters[("/slow", "observedBlocks")]);
        Assert.Equal(0, status.Gauges[("/slow", "inFlight")]);
    }

    [Fact]
    public void OnRequestAsync_ObserveModeUnderThrottling_NeverWaits()
    {
        using var host = new ThrottleHost(s_throttling, settings: new Dictionary<string, string> { ["observe"] = "true" });

        for (int i = 0; i < 20; i++)
        {
            Assert.Null(host.Request("GET", "/smooth"));
        }

        Assert.Equal(14, host.Context.CollectStatus().Counters[("/smooth", "observedBlocks")]);
        Assert.Equal(1, host.Time.PendingTimers); // only the settings poll: no delay was started
    }

    // xunit runs tests under its own synchronization context, where the runtime does not run
    // await continuations inline but posts them to the thread pool. Without it, a queued
    // request resumes inside the manual clock's Advance, at the simulated time of its slot.
    private static void InlineContinuations() => SynchronizationContext.SetSynchronizationContext(null);

    private sealed class AnsweringHandler : IInboundHandler
    {
        public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => new(new InboundResponse(418));

        public void OnCompleted(InboundCall call, in InboundOutcome outcome)
        {
        }
    }
}
