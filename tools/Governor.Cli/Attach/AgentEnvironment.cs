namespace Governor.Cli.Attach;

/// <summary>One environment variable the agent needs in the target process.</summary>
/// <param name="Name">The variable.</param>
/// <param name="Value">Its value.</param>
/// <param name="ListSeparator">
/// Non-null for list variables (such as <c>DOTNET_STARTUP_HOOKS</c>) that must be appended to
/// an existing value with this separator rather than replace it.
/// </param>
/// <param name="Why">One line for humans: shown as a comment by <c>governor env</c>.</param>
internal sealed record EnvVariable(string Name, string Value, char? ListSeparator, string Why);

/// <summary>What the user asked for: the home and the per-run settings.</summary>
internal sealed record AgentEnvironmentRequest(AgentHome Home, IReadOnlyList<string> PluginsDisabled, string? RulesDirectory);

/// <summary>Adds the variables one concern needs (the hook, settings, the patch engine, ...).</summary>
internal interface IEnvironmentContributor
{
    IEnumerable<EnvVariable> Contribute(AgentEnvironmentRequest request);
}

/// <summary>
/// THE list of environment variables that attach the agent; <c>run</c>, <c>env</c> and
/// <c>launch</c> all use it, and scripts/install.sh reads the same <c>env.d</c> files.
/// Extension points, so new needs never touch the commands:
/// - a contributor in <see cref="s_contributors"/> (e.g. the patch engine's
///   <c>DOTNET_ReadyToRunExcludeList</c>, computed in code);
/// - a file <c>&lt;home&gt;/env.d/*.env</c> (always) or <c>&lt;home&gt;/plugins/&lt;name&gt;/plugin.env</c>
///   (only while that plugin is enabled) with <c>NAME=VALUE</c> lines, <c>{home}</c> standing
///   for the agent home; shipped by whichever component needs the variable.
/// </summary>
internal static class AgentEnvironment
{
    private static readonly IEnvironmentContributor[] s_contributors =
    {
        new StartupHookContributor(),
        new SettingsContributor(),
        new ReadyToRunContributor(),
        new HomeFilesContributor(),
    };

    public static IReadOnlyList<EnvVariable> For(AgentEnvironmentRequest request)
    {
        var result = new List<EnvVariable>();
        foreach (var contributor in s_contributors)
        {
            foreach (var variable in contributor.Contribute(request))
            {
                // Later contributors cannot silently override earlier ones: first one wins.
                if (result.All(v => v.Name != variable.Name))
                {
                    result.Add(variable);
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Applies the variables to a process environment: list variables are appended to what is
    /// there (other Governor hooks are removed, since the agent refuses to load twice and the
    /// user chose this home); plain ones are set.
    /// </summary>
    public static void ApplyTo(IDictionary<string, string?> environment, IEnumerable<EnvVariable> variables)
    {
        foreach (var v in variables)
        {
            environment.TryGetValue(v.Name, out string? existing);
            environment[v.Name] = v.ListSeparator is char separator ? Append(existing, v.Value, separator, v.Name == StartupHookContributor.Variable) : v.Value;
        }
    }

    /// <summary>Appends <paramref name="value"/> to a separated list, once.</summary>
    public static string Append(string? existing, string value, char separator, bool dropOtherGovernorHooks)
    {
        var parts = (existing ?? string.Empty).Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(p => !string.Equals(p, value, StringComparison.Ordinal))
            .Where(p => !dropOtherGovernorHooks || !AgentHome.IsGovernorHook(p))
            .ToList();
        parts.Add(value);
        return string.Join(separator, parts);
    }

    /// <summary>The plugins that will run: enabled by default in their manifest and not disabled now.</summary>
    public static IEnumerable<string> EnabledPlugins(AgentEnvironmentRequest request) =>
        request.Home.ReadManifests()
            .Where(m => m.EnabledByDefault && !request.PluginsDisabled.Contains(m.Name, StringComparer.OrdinalIgnoreCase))
            .Select(m => m.Name);
}

/// <summary>DOTNET_STARTUP_HOOKS: the one variable that attaches the agent.</summary>
internal sealed class StartupHookContributor : IEnvironmentContributor
{
    public const string Variable = "DOTNET_STARTUP_HOOKS";

    public IEnumerable<EnvVariable> Contribute(AgentEnvironmentRequest request)
    {
        yield return new EnvVariable(Variable, request.Home.StartupHook, Path.PathSeparator, "attaches the Governor agent (appended to any hooks already set)");
    }
}

/// <summary>The per-run settings given on the command line (plugins to disable, rules folder).</summary>
internal sealed class SettingsContributor : IEnvironmentContributor
{
    public IEnumerable<EnvVariable> Contribute(AgentEnvironmentRequest request)
    {
        if (request.PluginsDisabled.Count > 0)
        {
            yield return new EnvVariable("GOVERNOR_PLUGINS_DISABLED", string.Join(',', request.PluginsDisabled), null, "plugins turned off for this process");
        }

        if (request.RulesDirectory is not null)
        {
            yield return new EnvVariable("GOVERNOR_RULES_DIR", request.RulesDirectory, null, "rules directory (instead of <home>/rules)");
        }
    }
}

/// <summary>
/// DOTNET_ReadyToRunExcludeList: the framework assemblies the enabled plugins patch and want
/// JIT-compiled (their manifests' <c>readyToRunExclude</c>), appended with ';' to any value the
/// target already has. The runtime reads it at start, so only a launcher can set it; the agent
/// warns at startup when it is missing (what is degraded meanwhile is in that warning).
/// </summary>
internal sealed class ReadyToRunContributor : IEnvironmentContributor
{
    public const string Variable = "DOTNET_ReadyToRunExcludeList";

    public IEnumerable<EnvVariable> Contribute(AgentEnvironmentRequest request)
    {
        var enabled = AgentEnvironment.EnabledPlugins(request).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var wanting = request.Home.ReadManifests().Where(m => enabled.Contains(m.Name) && m.ReadyToRunExclude.Count > 0).ToList();
        var assemblies = wanting.SelectMany(m => m.ReadyToRunExclude).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (assemblies.Count > 0)
        {
            yield return new EnvVariable(Variable, string.Join(';', assemblies), ';', $"JIT-compiles what plugin(s) {string.Join(", ", wanting.Select(m => m.Name))} patch (appended to any value already set)");
        }
    }
}

/// <summary>Variables shipped as files in the agent home: env.d/*.env and each enabled plugin's plugin.env.</summary>
internal sealed class HomeFilesContributor : IEnvironmentContributor
{
    public IEnumerable<EnvVariable> Contribute(AgentEnvironmentRequest request)
    {
        var files = new List<(string File, string Why)>();
        string envDir = Path.Combine(request.Home.Path, "env.d");
        if (Directory.Exists(envDir))
        {
            files.AddRange(Directory.EnumerateFiles(envDir, "*.env").OrderBy(f => f, StringComparer.Ordinal).Select(f => (f, $"from env.d/{Path.GetFileName(f)}")));
        }

        foreach (string plugin in AgentEnvironment.EnabledPlugins(request))
        {
            string file = Path.Combine(request.Home.PluginsDirectory, plugin, "plugin.env");
            if (File.Exists(file))
            {
                files.Add((file, $"needed by plugin '{plugin}'"));
            }
        }

        foreach (var (file, why) in files)
        {
            foreach (var variable in Read(file, request.Home.Path, why))
            {
                yield return variable;
            }
        }
    }

    /// <summary>Reads NAME=VALUE lines; '#' starts a comment; {home} is the agent home.</summary>
    public static IEnumerable<EnvVariable> Read(string file, string home, string why)
    {
        int lineNumber = 0;
        foreach (string raw in File.ReadAllLines(file))
        {
            lineNumber++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            int eq = line.IndexOf('=', StringComparison.Ordinal);
            string name = eq > 0 ? line[..eq].Trim() : string.Empty;
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw new CliException(ExitCodes.Failure, $"{file}:{lineNumber}: expected NAME=VALUE, found '{raw}'.", "Fix or remove the line; the agent home is damaged otherwise (reinstall it with scripts/install.sh).");
            }

            yield return new EnvVariable(name, line[(eq + 1)..].Trim().Replace("{home}", home, StringComparison.Ordinal), null, why);
        }
    }
}
