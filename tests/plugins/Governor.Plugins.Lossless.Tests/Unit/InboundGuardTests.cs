using Governor.Interception;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class InboundGuardTests
{
    [Fact]
    public async Task OnRequest_DrainingHttp11_ConnectionCloseAndNoticeAndCounted()
    {
        var (state, guard) = Create();
        state.Advance(LosslessPhase.Ready);
        state.Advance(LosslessPhase.Draining);
        var call = new FakeInboundCall("HTTP/1.1");

        var pending = guard.OnRequestAsync(call);

        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Null(await pending);
        Assert.Equal("close", call.Header("Connection"));
        Assert.Equal("shutting-down", call.Header("x-governor-lossless"));
        Assert.Equal(1, Interlocked.Read(ref state.ServedWhileDraining));
        Assert.Equal(1, Interlocked.Read(ref state.InFlight));
        guard.OnCompleted(call, default);
        Assert.Equal(0, Interlocked.Read(ref state.InFlight));
    }

    [Fact]
    public void OnRequest_DrainingHttp2_GracefulCloseRequestedInsteadOfAConnectionHeader()
    {
        var (state, guard) = Create();
        state.Advance(LosslessPhase.Draining);
        var call = new FakeInboundCall("HTTP/2");
        var lifetime = new FakeLifetime();
        ((HttpContext)call.NativeContext).Features.Set<IConnectionLifetimeNotificationFeature>(lifetime);

        guard.OnRequestAsync(call);

        Assert.Null(call.Header("Connection"));
        Assert.Equal("shutting-down", call.Header("x-governor-lossless"));
        Assert.Equal(1, lifetime.CloseRequests);
    }

    [Fact]
    public void OnRequest_ReadyAndRamping_AdvertisesTheWeightNothingElse()
    {
        var (state, guard) = Create(TimeSpan.FromMinutes(10));
        state.Advance(LosslessPhase.Ready);
        var call = new FakeInboundCall();

        guard.OnRequestAsync(call);

        Assert.Equal("1", call.Header("x-governor-weight"));
        Assert.Single(call.AddedHeaders);
    }

    [Fact]
    public void OnRequest_ReadyAfterTheRampOrStarting_NoHeaders()
    {
        var (state, guard) = Create(TimeSpan.Zero);
        var starting = new FakeInboundCall();
        guard.OnRequestAsync(starting);
        state.Advance(LosslessPhase.Ready);
        var ready = new FakeInboundCall();
        guard.OnRequestAsync(ready);

        Assert.Empty(starting.AddedHeaders);
        Assert.Empty(ready.AddedHeaders);
        Assert.Equal(2, Interlocked.Read(ref state.InFlight));
    }

    [Fact]
    public async Task OnRequest_OverTheRampCap_QueuedUntilAnEarlierRequestCompletes()
    {
        var state = new LosslessState();
        var ramp = new WarmupRamp(state, TimeSpan.FromMinutes(10), 1.0, maxConcurrency: 100, minConcurrency: 1);
        using var gate = new RampGate(ramp.Capacity, TimeSpan.FromSeconds(30));
        var guard = new InboundGuard(state, ramp, gate);
        state.Advance(LosslessPhase.Ready);
        var first = new FakeInboundCall();
        var second = new FakeInboundCall();

        Assert.True(guard.OnRequestAsync(first).IsCompletedSuccessfully);
        var queued = guard.OnRequestAsync(second);
        Assert.False(queued.IsCompleted);
        Assert.Equal(1, Interlocked.Read(ref state.Queued));

        guard.OnCompleted(first, default);

        Assert.Null(await queued.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        guard.OnCompleted(second, default);
        Assert.Equal(0, gate.Active);
        Assert.Equal(0, Interlocked.Read(ref state.InFlight));
    }

    [Fact]
    public void OnRequestAndCompleted_ReadyRampingAndDraining_AllocateNothing()
    {
        var (state, guard) = Create(TimeSpan.FromMinutes(10));
        var call = new FakeInboundCall(record: false);
        state.Advance(LosslessPhase.Ready);
        Run(guard, call, 100);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(guard, call, 10_000);
        state.Advance(LosslessPhase.Draining);
        Run(guard, call, 10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(0, Interlocked.Read(ref state.InFlight));
    }

    private static void Run(InboundGuard guard, InboundCall call, int times)
    {
        for (int i = 0; i < times; i++)
        {
            _ = guard.OnRequestAsync(call);
            guard.OnCompleted(call, default);
        }
    }

    private static (LosslessState, InboundGuard) Create(TimeSpan? warmup = null)
    {
        var state = new LosslessState();
        var ramp = new WarmupRamp(state, warmup ?? TimeSpan.FromMinutes(2), 1.0, 0, 1);
        return (state, new InboundGuard(state, ramp, null));
    }

    private sealed class FakeLifetime : IConnectionLifetimeNotificationFeature
    {
        public int CloseRequests;

        public CancellationToken ConnectionClosedRequested { get; set; }

        public void RequestClose() => CloseRequests++;
    }
}
