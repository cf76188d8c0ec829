using Governor.Core.Plugins;

namespace Governor.Cli.Attach;

/// <summary>
/// An agent home (the folder with Governor.StartupHook.dll, core/, plugins/, rules/), found from
/// <c>--home</c>, <c>GOVERNOR_HOME</c>, a Governor hook already in <c>DOTNET_STARTUP_HOOKS</c>,
/// the folder above the CLI (when it is installed inside a home) or <c>/opt/governor</c>.
/// </summary>
internal sealed class AgentHome
{
    public const string HookFileName = "Governor.StartupHook.dll";
    public const string DefaultInstallPath = "/opt/governor";

    private AgentHome(string path, string foundBy)
    {
        Path = path;
        FoundBy = foundBy;
    }

    public string Path { get; }

    /// <summary>How the home was chosen (named in messages, e.g. "GOVERNOR_HOME").</summary>
    public string FoundBy { get; }

    public string StartupHook => System.IO.Path.Combine(Path, HookFileName);

    public string PluginsDirectory => System.IO.Path.Combine(Path, "plugins");

    public string RulesDirectory => System.IO.Path.Combine(Path, "rules");

    /// <summary>The agent's version from VERSION (written by scripts/pack.sh), or null for a dev build.</summary>
    public string? Version
    {
        get
        {
            string file = System.IO.Path.Combine(Path, "VERSION");
            try
            {
                return File.Exists(file) ? File.ReadAllLines(file).FirstOrDefault(l => l.StartsWith("version=", StringComparison.Ordinal))?["version=".Length..].Trim() : null;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>Resolves the home or throws a usage error that says where it looked and what to do.</summary>
    public static AgentHome Resolve(string? explicitPath)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            return Validate(explicitPath, "--home");
        }

        var looked = new List<string>();
        string? env = System.Environment.GetEnvironmentVariable("GOVERNOR_HOME");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return Validate(env, "GOVERNOR_HOME");
        }

        looked.Add("GOVERNOR_HOME (not set)");
        foreach (string entry in SplitHooks(System.Environment.GetEnvironmentVariable("DOTNET_STARTUP_HOOKS")))
        {
            if (IsGovernorHook(entry) && File.Exists(entry))
            {
                return Validate(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(entry))!, "DOTNET_STARTUP_HOOKS");
            }
        }

        looked.Add("DOTNET_STARTUP_HOOKS (no Governor hook)");
        string? beside = System.IO.Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd('/'));
        foreach (string? candidate in new[] { beside, System.IO.Path.GetDirectoryName(beside ?? string.Empty) })
        {
            if (!string.IsNullOrEmpty(candidate) && IsHome(candidate))
            {
                return new AgentHome(System.IO.Path.GetFullPath(candidate), "the CLI's install folder");
            }
        }

        if (IsHome(DefaultInstallPath))
        {
            return new AgentHome(DefaultInstallPath, DefaultInstallPath);
        }

        looked.Add(DefaultInstallPath);
        throw CliException.Usage(
            $"no Governor agent home found (looked at: {string.Join(", ", looked)}).",
            "Pass --home DIR (the folder with Governor.StartupHook.dll, e.g. /opt/governor or artifacts/governor) or set GOVERNOR_HOME. Install one with scripts/install.sh.");
    }

    public static bool IsHome(string path) =>
        File.Exists(System.IO.Path.Combine(path, HookFileName)) && File.Exists(System.IO.Path.Combine(path, "core", "Governor.Core.dll"));

    public static bool IsGovernorHook(string entry) =>
        string.Equals(System.IO.Path.GetFileName(entry.Trim()), HookFileName, StringComparison.OrdinalIgnoreCase);

    public static IEnumerable<string> SplitHooks(string? value) =>
        string.IsNullOrEmpty(value) ? Array.Empty<string>() : value.Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The plugins installed in this home, read from their manifests (no plugin code runs).</summary>
    public IReadOnlyList<PluginManifest> ReadManifests()
    {
        var result = new List<PluginManifest>();
        if (!Directory.Exists(PluginsDirectory))
        {
            return result;
        }

        foreach (string dir in Directory.EnumerateDirectories(PluginsDirectory).OrderBy(d => d, StringComparer.Ordinal))
        {
            string file = System.IO.Path.Combine(dir, PluginManifest.FileName);
            if (File.Exists(file) && PluginManifest.TryRead(file, out _) is { } manifest)
            {
                result.Add(manifest);
            }
        }

        return result;
    }

    private static AgentHome Validate(string path, string foundBy)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(full))
        {
            throw CliException.Usage($"agent home '{path}' (from {foundBy}) does not exist.", "Pass --home DIR with an installed agent home (e.g. /opt/governor) or a build output (artifacts/governor).");
        }

        if (!IsHome(full))
        {
            string missing = File.Exists(System.IO.Path.Combine(full, HookFileName)) ? "core/Governor.Core.dll" : HookFileName;
            throw CliException.Usage($"'{path}' (from {foundBy}) is not a Governor agent home: {missing} is missing.", "Point --home at the folder install.sh created (e.g. /opt/governor) or at artifacts/governor after 'dotnet build'.");
        }

        return new AgentHome(full, foundBy);
    }
}
