using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class RampGateTests
{
    [Fact]
    public async Task Gate_OverTheCap_QueuesAndAdmitsInOrderAsRequestsFinish()
    {
        using var gate = new RampGate(_ => 2, TimeSpan.FromSeconds(30));
        Assert.True(gate.TryEnter());
        Assert.True(gate.TryEnter());
        Assert.False(gate.TryEnter());

        var first = gate.EnterAsync();
        var second = gate.EnterAsync();
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        Assert.Equal(2, gate.Waiting);

        gate.Exit();
        Assert.True(await first.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(second.IsCompleted);
        gate.Exit();
        Assert.True(await second.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, gate.Active);
        Assert.Equal(0, gate.Waiting);
    }

    [Fact]
    public async Task Gate_QueueTimeout_LetsTheRequestGoOnNeverRejects()
    {
        using var gate = new RampGate(_ => 1, TimeSpan.FromMilliseconds(100));
        Assert.True(gate.TryEnter());

        bool admitted = await gate.EnterAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.False(admitted);
        Assert.Equal(1, Interlocked.Read(ref gate.TimedOut));
        Assert.Equal(2, gate.Active);
        gate.Exit();
        gate.Exit();
        Assert.Equal(0, gate.Active);
    }

    [Fact]
    public async Task Gate_CapGrowsWithTime_WaitersAdmittedWithoutAnyRequestFinishing()
    {
        int cap = 1;
        using var gate = new RampGate(_ => Volatile.Read(ref cap), TimeSpan.FromSeconds(30));
        Assert.True(gate.TryEnter());
        var waiter = gate.EnterAsync();
        await Task.Delay(50);
        Assert.False(waiter.IsCompleted);

        Volatile.Write(ref cap, 2);

        Assert.True(await waiter.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Gate_ManyConcurrentRequests_NeverMoreActiveThanTheCapAndAllServed()
    {
        using var gate = new RampGate(_ => 3, TimeSpan.FromSeconds(30));
        int running = 0;
        int maxRunning = 0;
        int served = 0;

        async Task OneAsync()
        {
            if (!gate.TryEnter())
            {
                Assert.True(await gate.EnterAsync());
            }

            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            await Task.Yield();
            Interlocked.Decrement(ref running);
            Interlocked.Increment(ref served);
            gate.Exit();
        }

        await Task.WhenAll(Enumerable.Range(0, 2000).Select(_ => Task.Run(OneAsync))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(2000, served);
        Assert.InRange(maxRunning, 1, 3);
        Assert.Equal(0, gate.Active);
        Assert.InRange(gate.MaxActive, 1, 3);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
