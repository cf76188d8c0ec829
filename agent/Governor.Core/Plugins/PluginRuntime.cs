using Governor.Rules;

namespace Governor.Core.Plugins;

/// <summary>Plugin lifecycle: Discovered → Disabled | Starting → Started | Failed(reason) → Stopping → Stopped.</summary>
internal enum PluginState
{
    Discovered,
    Disabled,
    Starting,
    Started,
    Failed,
    Stopping,
    Stopped,
}

/// <summary>One plugin: its manifest, its load context, its instance and its state.</summary>
internal sealed class PluginRuntime
{
    private readonly object _gate = new();

    public PluginRuntime(string directory, PluginManifest? manifest, string? manifestError)
    {
        Directory = directory;
        Manifest = manifest;
        Name = manifest?.Name ?? System.IO.Path.GetFileName(directory);
        if (manifest is null)
        {
            State = PluginState.Failed;
            Reason = manifestError;
        }
    }

    public string Name { get; }

    public string Directory { get; }

    public PluginManifest? Manifest { get; }

    public PluginState State { get; private set; } = PluginState.Discovered;

    public string? Reason { get; private set; }

    public string? Detail { get; set; }

    public double? StartMilliseconds { get; set; }

    public PluginLoadContext? LoadContext { get; set; }

    public IGovernorPlugin? Instance { get; set; }

    public IReadOnlyList<RuleKind> RuleKinds { get; set; } = Array.Empty<RuleKind>();

    public PluginContext? Context { get; set; }

    public int Order => Manifest?.Order ?? 0;

    public bool IsRunning => State is PluginState.Started;

    /// <summary>Moves to <paramref name="state"/>; returns false when the current state is not <paramref name="expected"/> (when given).</summary>
    public bool Transition(PluginState state, string? reason, PluginState? expected = null)
    {
        lock (_gate)
        {
            if (expected is not null && State != expected)
            {
                return false;
            }

            State = state;
            Reason = reason;
            return true;
        }
    }
}
