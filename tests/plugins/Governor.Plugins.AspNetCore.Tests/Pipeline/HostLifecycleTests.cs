using Governor.Interception;
using Xunit;

namespace Governor.Plugins.AspNetCore.Tests.Pipeline;

/// <summary>The host lifecycle's ordering guarantees, with two threads racing as SIGTERM and the host do.</summary>
public sealed class HostLifecycleTests
{
    [Fact]
    public void NotifyStopping_SecondCallerWhileHandlersRun_ReturnsOnlyAfterTheHandlersFinished()
    {
        var host = new InterceptionHub().Host;
        using var handlerEntered = new ManualResetEventSlim();
        var journal = new List<string>();
        host.Stopping += () =>
        {
            handlerEntered.Set();
            Thread.Sleep(300);
            lock (journal)
            {
                journal.Add("handler");
            }
        };

        var first = new Thread(host.NotifyStopping);
        first.Start();
        Assert.True(handlerEntered.Wait(TimeSpan.FromSeconds(5)));
        host.NotifyStopping();
        lock (journal)
        {
            journal.Add("second-returned");
        }

        first.Join();
        Assert.Equal(new[] { "handler", "second-returned" }, journal);
        Assert.True(host.IsStopping);
    }

    [Fact]
    public void NotifyStopping_CalledTwice_HandlersRunOnce()
    {
        var host = new InterceptionHub().Host;
        int calls = 0;
        host.Stopping += () => calls++;

        host.NotifyStopping();
        host.NotifyStopping();

        Assert.Equal(1, calls);
    }

    [Fact]
    public void NotifyStopping_NoHandlers_SecondCallDoesNotWait()
    {
        var host = new InterceptionHub().Host;
        host.NotifyStopping();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        host.NotifyStopping();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"took {clock.Elapsed}");
    }
}
