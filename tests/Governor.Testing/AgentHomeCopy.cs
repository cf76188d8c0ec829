using System.Text.Json;

namespace Governor.Testing;

/// <summary>
/// A private copy of the built agent home (artifacts/governor) in a temp directory, so a test
/// can add test plugins, rules and governor.json without touching the shared one.
/// </summary>
public sealed class AgentHomeCopy : IDisposable
{
    private readonly TempDirectory _dir;

    /// <param name="includeBuiltInPlugins">Copy the home's plugins/ too.</param>
    /// <param name="source">The home to copy: artifacts/governor (the Debug build) unless given, e.g. <see cref="ReleaseAgentHome.Path"/>.</param>
    public AgentHomeCopy(bool includeBuiltInPlugins = true, string? source = null)
    {
        source ??= RepoPaths.AgentHome;
        if (!File.Exists(Path.Combine(source, "Governor.StartupHook.dll")))
        {
            throw new InvalidOperationException($"The agent home is not built: {Path.Combine(source, "Governor.StartupHook.dll")} is missing. Run 'dotnet build' at the repository root first.");
        }

        _dir = new TempDirectory("governor-home");
        Home = _dir.Combine("governor");
        CopyDirectory(source, Home, skip: includeBuiltInPlugins ? null : Path.Combine(source, "plugins"));
        Directory.CreateDirectory(PluginsDirectory);
        Directory.CreateDirectory(RulesDirectory);
        LogDirectory = _dir.Combine("logs");
        Directory.CreateDirectory(LogDirectory);
    }

    public string Home { get; }

    public string StartupHook => Path.Combine(Home, "Governor.StartupHook.dll");

    public string PluginsDirectory => Path.Combine(Home, "plugins");

    public string RulesDirectory => Path.Combine(Home, "rules");

    public string LogDirectory { get; }

    public string Root => _dir.Path;

    /// <summary>Adds a test plugin (built to artifacts/test-plugins) under plugins/&lt;name&gt;/ with the given manifest fields.</summary>
    public void AddTestPlugin(string name, string entryType, int order = 0, bool enabledByDefault = true, string? startTimeout = null, string[]? ruleKinds = null, string[]? interceptionPoints = null)
    {
        string dir = Path.Combine(PluginsDirectory, name);
        Directory.CreateDirectory(dir);
        foreach (string file in Directory.EnumerateFiles(RepoPaths.TestPlugins))
        {
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)), overwrite: true);
        }

        var manifest = new Dictionary<string, object?>
        {
            ["name"] = name,
            ["version"] = "1.0.0",
            ["order"] = order,
            ["assembly"] = "Governor.TestPlugins.dll",
            ["entryType"] = entryType,
            ["description"] = "test plugin",
            ["enabledByDefault"] = enabledByDefault,
            ["interceptionPoints"] = interceptionPoints ?? Array.Empty<string>(),
            ["ruleKinds"] = ruleKinds ?? Array.Empty<string>(),
        };
        if (startTimeout is not null)
        {
            manifest["startTimeout"] = startTimeout;
        }

        File.WriteAllText(Path.Combine(dir, "plugin.json"), JsonSerializer.Serialize(manifest));
    }

    public string WriteRule(string fileName, string content)
    {
        string path = Path.Combine(RulesDirectory, fileName);
        // Write then rename, as an editor or a ConfigMap update would.
        string tmp = Path.Combine(RulesDirectory, "." + fileName + ".tmp");
        File.WriteAllText(tmp, content);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    public string WriteConfig(string json)
    {
        string path = Path.Combine(Home, "governor.json");
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, json);
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    /// <summary>The environment that attaches this agent home to a process.</summary>
    public Dictionary<string, string?> Environment(Dictionary<string, string?>? extra = null)
    {
        var env = new Dictionary<string, string?>
        {
            ["DOTNET_STARTUP_HOOKS"] = StartupHook,
            ["GOVERNOR_LOG_DIR"] = LogDirectory,
            ["GOVERNOR_STATUS_INTERVAL"] = "200ms",
            // The lossless plugin serves probes on port 15020 of every interface and drains for 5 s
            // on SIGTERM by default. Tests get any free loopback port and no drain delay unless they
            // ask (extra wins), so parallel processes never collide and stop as fast as before.
            ["GOVERNOR_PROBE_PORT"] = "0",
            ["GOVERNOR_PLUGINS__LOSSLESS__PROBEADDRESS"] = "127.0.0.1",
            ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = "0",
        };
        if (extra is not null)
        {
            foreach (var (k, v) in extra)
            {
                env[k] = v;
            }
        }

        return env;
    }

    public StatusFile Status(int pid) => new(Path.Combine(LogDirectory, $"governor-status-{pid}.json"));

    /// <summary>All agent log text written so far (every log file in the log directory).</summary>
    public string ReadLogs()
    {
        var text = new System.Text.StringBuilder();
        foreach (string file in Directory.EnumerateFiles(LogDirectory, "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            text.Append(reader.ReadToEnd());
        }

        return text.ToString();
    }

    public void Dispose() => _dir.Dispose();

    public static void CopyDirectory(string source, string target, string? skip = null)
    {
        Directory.CreateDirectory(target);
        foreach (string dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            if (skip is not null && dir.StartsWith(skip, StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.Combine(target, Path.GetRelativePath(source, dir)));
        }

        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            if (skip is not null && file.StartsWith(skip, StringComparison.Ordinal))
            {
                continue;
            }

            File.Copy(file, Path.Combine(target, Path.GetRelativePath(source, file)), overwrite: true);
        }
    }
}
