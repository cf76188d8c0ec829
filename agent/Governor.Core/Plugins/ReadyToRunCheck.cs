namespace Governor.Core.Plugins;

/// <summary>
/// Tells the user, once, when enabled plugins want framework assemblies JIT-compiled and
/// <c>DOTNET_ReadyToRunExcludeList</c> does not list them. The runtime reads that variable when
/// the process starts, so the agent cannot set it for its own process: the launcher or the
/// injector must. The warning names the variable, the full value to set and what each plugin
/// loses meanwhile.
/// </summary>
internal static class ReadyToRunCheck
{
    public const string Variable = "DOTNET_ReadyToRunExcludeList";

    /// <summary>
    /// The names in the runtime's list. Measured on .NET 10: names separated by ';' or whitespace
    /// are honoured, a ',' is not a separator (the whole "a,b" is taken as one name).
    /// </summary>
    public static IReadOnlyList<string> Parse(string? value) =>
        string.IsNullOrWhiteSpace(value) ? Array.Empty<string>() : value.Split(new[] { ';', ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The warning to log, or null when every wanted assembly is listed.</summary>
    public static string? Warning(IEnumerable<PluginManifest> enabled, string? current)
    {
        var listed = new HashSet<string>(Parse(current), StringComparer.OrdinalIgnoreCase);
        var missing = new List<string>();
        var plugins = new List<PluginManifest>();
        foreach (var manifest in enabled)
        {
            bool wants = false;
            foreach (string assembly in manifest.ReadyToRunExclude)
            {
                if (listed.Contains(assembly))
                {
                    continue;
                }

                wants = true;
                if (!missing.Contains(assembly, StringComparer.OrdinalIgnoreCase))
                {
                    missing.Add(assembly);
                }
            }

            if (wants)
            {
                plugins.Add(manifest);
            }
        }

        if (missing.Count == 0)
        {
            return null;
        }

        string value = string.Join(';', Parse(current).Concat(missing));
        var degraded = string.Join("; ", plugins.Select(p => $"{p.Name}: {p.ReadyToRunDegraded ?? "its patches rely on hot-patching precompiled code"}"));
        return $"{Variable} does not list {string.Join(", ", missing)}, which the plugins {string.Join(", ", plugins.Select(p => p.Name))} patch. "
            + $"Set {Variable}={value} in the environment the process starts with (the runtime reads it at startup; the agent cannot set it for its own process). "
            + $"Until then: {degraded}.";
    }
}
