namespace Governor.TestPlugins;

/// <summary>Throws from Start: must end Failed with the message as reason.</summary>
public sealed class ThrowOnStartPlugin : IGovernorPlugin
{
    public void Start(IPluginContext context) => throw new InvalidOperationException("boom at start");

    public void Stop()
    {
    }
}

/// <summary>Never returns from Start: must end Failed after its start timeout.</summary>
public sealed class HangOnStartPlugin : IGovernorPlugin
{
    public void Start(IPluginContext context) => Thread.Sleep(Timeout.Infinite);

    public void Stop()
    {
    }
}

/// <summary>Starts, then throws from Stop: the process must still exit normally.</summary>
public sealed class ThrowOnStopPlugin : IGovernorPlugin
{
    public void Start(IPluginContext context)
    {
    }

    public void Stop() => throw new InvalidOperationException("boom at stop");
}
