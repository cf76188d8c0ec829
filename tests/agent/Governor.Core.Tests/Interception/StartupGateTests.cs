using Governor.Interception;
using Xunit;

namespace Governor.Core.Tests.Interception;

public sealed class StartupGateTests
{
    [Fact]
    public async Task NewGate_IsOpen_CallsDoNotWait()
    {
        var gate = new StartupGate();

        Assert.True(gate.IsOpen);
        Assert.True(gate.Wait());
        Assert.True(await gate.WaitAsync(CancellationToken.None));
        Assert.True(gate.WhenOpen.IsCompleted);
    }

    [Fact]
    public async Task Closed_CallsWaitUntilOpened()
    {
        var gate = new StartupGate();
        gate.Close();
        var blocking = Task.Run(gate.Wait);
        var waiting = gate.WaitAsync(CancellationToken.None);
        await Task.Delay(100);
        Assert.False(blocking.IsCompleted);
        Assert.False(waiting.IsCompleted);

        gate.Open();

        Assert.True(await blocking.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(gate.IsOpen);
        Assert.Equal(0, gate.TimedOut);
    }

    [Fact]
    public async Task Closed_StartOutlastsHoldTimeout_CallsGoOnAndAreCounted()
    {
        var gate = new StartupGate { HoldTimeout = TimeSpan.FromMilliseconds(50) };
        gate.Close();

        Assert.False(gate.Wait());
        Assert.False(await gate.WaitAsync(CancellationToken.None));
        Assert.Equal(2, gate.TimedOut);
    }

    [Fact]
    public void Closed_StartOutlastsHoldTimeout_ReportedOnceToTheAgentLogNamingTheSetting()
    {
        var log = new ListLogger();
        var gate = new StartupGate { HoldTimeout = TimeSpan.FromMilliseconds(20), Log = log };
        gate.Close();

        gate.Wait();
        gate.Wait();

        Assert.Equal(2, gate.TimedOut);
        var line = Assert.Single(log.Lines);
        Assert.StartsWith("Warning: ", line, StringComparison.Ordinal);
        Assert.Contains("governor:startup:holdTimeout", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Closed_CallerCancels_WaitAsyncThrowsCancellation()
    {
        var gate = new StartupGate();
        gate.Close();
        using var cancel = new CancellationTokenSource(50);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.WaitAsync(cancel.Token));
    }
}
