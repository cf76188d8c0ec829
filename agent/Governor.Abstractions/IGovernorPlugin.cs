using Governor.Rules;

namespace Governor;

/// <summary>
/// The entry type of a plugin, named by its manifest (<c>plugin.json</c>, field <c>entryType</c>).
/// It needs a public parameterless constructor that has no side effects: the agent and the
/// offline rule validator create it to read <see cref="RuleKinds"/> without starting it.
/// </summary>
public interface IGovernorPlugin
{
    /// <summary>The rule kinds this plugin owns, with their parsers and validators.</summary>
    IReadOnlyList<RuleKind> RuleKinds => Array.Empty<RuleKind>();

    /// <summary>
    /// Starts the plugin. Runs on an agent thread, bounded by the plugin's start timeout; an
    /// exception or a timeout marks the plugin Failed and the app goes on.
    /// </summary>
    void Start(IPluginContext context);

    /// <summary>Stops the plugin at process exit or when it is disabled. Bounded in time.</summary>
    void Stop();
}
