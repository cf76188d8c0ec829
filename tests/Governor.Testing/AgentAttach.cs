using System.Text.Json;

namespace Governor.Testing;

/// <summary>
/// The variables that attach an agent home to a process, as <c>governor env</c> computes them:
/// the hook, the ReadyToRun exclusions the enabled plugins' manifests ask for, and the home's
/// <c>plugins/&lt;name&gt;/plugin.env</c> and <c>env.d/*.env</c> files. For tools that start
/// real apps (the demo, the process benchmarks) without going through the CLI.
/// </summary>
public static class AgentAttach
{
    public static Dictionary<string, string?> Environment(string home)
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["DOTNET_STARTUP_HOOKS"] = Path.Combine(home, "Governor.StartupHook.dll"),
        };
        var exclude = new List<string>();
        foreach (string plugin in Plugins(home))
        {
            using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(home, "plugins", plugin, "plugin.json")));
            bool enabled = !manifest.RootElement.TryGetProperty("enabledByDefault", out var e) || e.GetBoolean();
            if (!enabled)
            {
                continue;
            }

            if (manifest.RootElement.TryGetProperty("readyToRunExclude", out var list))
            {
                exclude.AddRange(list.EnumerateArray().Select(a => a.GetString()).OfType<string>());
            }

            string pluginEnv = Path.Combine(home, "plugins", plugin, "plugin.env");
            if (File.Exists(pluginEnv))
            {
                ReadEnvFile(pluginEnv, home, env);
            }
        }

        if (exclude.Count > 0)
        {
            env["DOTNET_ReadyToRunExcludeList"] = string.Join(';', exclude.Distinct(StringComparer.OrdinalIgnoreCase));
        }

        string envDir = Path.Combine(home, "env.d");
        if (Directory.Exists(envDir))
        {
            foreach (string file in Directory.EnumerateFiles(envDir, "*.env").Order(StringComparer.Ordinal))
            {
                ReadEnvFile(file, home, env);
            }
        }

        return env;
    }

    /// <summary>The plugins installed in the home (a directory with a plugin.json), sorted.</summary>
    public static IReadOnlyList<string> Plugins(string home) => Directory.Exists(Path.Combine(home, "plugins"))
        ? Directory.EnumerateDirectories(Path.Combine(home, "plugins")).Where(d => File.Exists(Path.Combine(d, "plugin.json"))).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList()
        : Array.Empty<string>();

    /// <summary>NAME=VALUE lines, <c>{home}</c> standing for the home; the ReadyToRun list is appended to, not replaced.</summary>
    private static void ReadEnvFile(string file, string home, Dictionary<string, string?> env)
    {
        foreach (string raw in File.ReadAllLines(file))
        {
            string line = raw.Trim();
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (line.Length == 0 || line.StartsWith('#') || eq <= 0)
            {
                continue;
            }

            string name = line[..eq].Trim();
            string value = line[(eq + 1)..].Trim().Replace("{home}", home, StringComparison.Ordinal);
            env[name] = name == "DOTNET_ReadyToRunExcludeList" && env.TryGetValue(name, out string? existing) && !string.IsNullOrEmpty(existing) ? existing + ";" + value : value;
        }
    }
}
