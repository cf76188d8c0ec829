using Governor.Cli.Attach;
using Governor.Core.Plugins;
using Governor.Core.Rules;
using Governor.Rules;

namespace Governor.Cli.Rules;

/// <summary>The outcome of validating rule files offline.</summary>
internal sealed record ValidationReport(
    IReadOnlyList<string> Files,
    int Documents,
    IReadOnlyList<RuleError> Errors,
    IReadOnlyList<string> Notes,
    IReadOnlyList<string> Kinds,
    IReadOnlyList<string> PluginProblems);

/// <summary>
/// The agent's own validator, run offline: the core kinds plus the kinds of every plugin in the
/// agent home, loaded exactly as the agent loads them (manifest, then the plugin assembly in
/// its own AssemblyLoadContext, then its entry type's <c>RuleKinds</c>; no plugin is started).
/// Every plugin is loaded, even one disabled by default, because rules are written for
/// wherever the plugin will be enabled. A directory is read by the agent's RuleStore, so file
/// selection and duplicate-name checks are the agent's too.
/// </summary>
internal static class OfflineValidator
{
    public static ValidationReport Validate(string path, AgentHome? home)
    {
        var log = new CollectingLogger();
        var manager = new PluginManager(log, _ => { });
        var problems = new List<string>();
        if (home is not null)
        {
            manager.Discover(home.PluginsDirectory);
            foreach (var plugin in manager.Plugins)
            {
                if (plugin.Manifest is null || !manager.Load(plugin))
                {
                    problems.Add($"plugin '{plugin.Name}' cannot be loaded ({plugin.Reason}); documents of its kinds are not checked");
                }
            }
        }

        var kinds = manager.Kinds();
        var kindNames = kinds.Kinds.Select(k => $"{k.Kind} ({k.Owner})").OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (Directory.Exists(path))
        {
            using var store = new RuleStore(path, () => kinds, log);
            store.Scan(force: true);
            var files = RuleFiles(path);
            return new ValidationReport(files, store.Current.Documents.Count, store.Errors, store.Notes, kindNames, problems);
        }

        if (File.Exists(path))
        {
            var result = RuleValidator.ValidateFile(path, File.ReadAllText(path), kinds);
            int documents = result.Errors.Count == 0 ? result.Documents.Count : 0;
            return new ValidationReport(new[] { path }, documents, result.Errors, result.Notes, kindNames, problems);
        }

        throw CliException.Usage($"'{path}' does not exist.", "Pass a rules directory (e.g. /opt/governor/rules) or one rule file (.yaml, .yml, .json).");
    }

    // The same selection as the agent's RuleStore: *.yaml, *.yml, *.json, not starting with '.'.
    private static IReadOnlyList<string> RuleFiles(string directory) =>
        Directory.EnumerateFiles(directory)
            .Where(p => !Path.GetFileName(p).StartsWith('.') && Path.GetExtension(p).ToLowerInvariant() is ".yaml" or ".yml" or ".json")
            .OrderBy(p => p, StringComparer.Ordinal)
            .ToList();

    /// <summary>The agent components log; offline, their messages are not needed (errors come back as data).</summary>
    private sealed class CollectingLogger : IGovernorLogger
    {
        public bool IsEnabled(GovernorLogLevel level) => false;

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
        }
    }
}
