using Governor.Interception;
using Governor.Patching;
using Governor.Rules;
using Governor.Status;

namespace Governor;

/// <summary>What the agent gives a plugin when it starts.</summary>
public interface IPluginContext
{
    /// <summary>The plugin's name, as in its manifest.</summary>
    string PluginName { get; }

    /// <summary>Facts about the agent and the process it runs in.</summary>
    AgentInfo Agent { get; }

    IGovernorLogger Logger { get; }

    /// <summary>Settings under <c>governor:plugins:&lt;name&gt;:</c>, and the agent-wide ones.</summary>
    IPluginSettings Settings { get; }

    /// <summary>The current rules (an immutable snapshot) and their changes.</summary>
    IRuleSource Rules { get; }

    /// <summary>The interception pipelines that governance plugins subscribe to.</summary>
    InterceptionHub Interception { get; }

    /// <summary>
    /// The patch engine, or null when patching is unavailable (see <see cref="PatchingUnavailableReason"/>).
    /// Its startup self-test may still be running when the plugin starts: patch calls wait for it,
    /// and if it fails they throw <see cref="PatchException"/> (handle it as "use the hook-only path").
    /// </summary>
    IPatchEngine? Patching { get; }

    /// <summary>Why <see cref="Patching"/> is null (off by <c>GOVERNOR_PATCHING</c>, unsupported runtime, failed self-test).</summary>
    string? PatchingUnavailableReason { get; }

    /// <summary>Registers a source of counters for the status file, the EventSource and the Meter.</summary>
    void RegisterStatus(IStatusProvider provider);

    /// <summary>A short free text shown next to the plugin's state (what it intercepts, what it cannot do).</summary>
    void SetDetail(string detail);

    /// <summary>Signalled when the plugin is asked to stop.</summary>
    CancellationToken Stopping { get; }
}

/// <summary>Facts about the agent and the host process.</summary>
public sealed class AgentInfo
{
    public AgentInfo(string version, string home, string logDirectory, string appName, string? tag, int processId)
    {
        Version = version;
        Home = home;
        LogDirectory = logDirectory;
        AppName = appName;
        Tag = tag;
        ProcessId = processId;
    }

    public string Version { get; }

    /// <summary>The agent home (the folder holding <c>Governor.StartupHook.dll</c>).</summary>
    public string Home { get; }

    public string LogDirectory { get; }

    /// <summary>The service name: <c>GOVERNOR_APP</c>, else the entry assembly's name.</summary>
    public string AppName { get; }

    /// <summary>This instance's workload label (<c>GOVERNOR_TAG</c>); null means base.</summary>
    public string? Tag { get; }

    public int ProcessId { get; }
}
