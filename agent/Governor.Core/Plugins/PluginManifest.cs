using System.Text.Json;

namespace Governor.Core.Plugins;

/// <summary>
/// A plugin's <c>plugin.json</c>, read without running any plugin code.
/// </summary>
internal sealed record PluginManifest(
    string Name,
    string Version,
    int Order,
    string Assembly,
    string EntryType,
    string Description,
    IReadOnlyList<string> InterceptionPoints,
    bool EnabledByDefault,
    TimeSpan? StartTimeout,
    IReadOnlyList<string> RuleKinds)
{
    /// <summary>
    /// Precompiled (ReadyToRun) framework assemblies whose methods the plugin patches and that it
    /// wants JIT-compiled, i.e. listed in <c>DOTNET_ReadyToRunExcludeList</c> (read by the runtime
    /// at process start, so only the launcher or the injector can set it).
    /// </summary>
    public IReadOnlyList<string> ReadyToRunExclude { get; init; } = Array.Empty<string>();

    /// <summary>What the plugin loses when <see cref="ReadyToRunExclude"/> is not honoured (shown in the warning).</summary>
    public string? ReadyToRunDegraded { get; init; }

    /// <summary>
    /// An assembly in the plugin folder that ASP.NET Core loads as a hosting startup in every web
    /// host (see HostingStartups): announced before the app's Main, while the plugin itself starts
    /// alongside the app. Null: none.
    /// </summary>
    public string? HostingStartupAssembly { get; init; }

    public const string FileName = "plugin.json";

    private static readonly string[] s_points = { "inbound", "outbound", "sql" };
    private static readonly string[] s_fields = { "name", "version", "order", "assembly", "entryType", "description", "interceptionPoints", "enabledByDefault", "startTimeout", "ruleKinds", "readyToRunExclude", "readyToRunDegraded", "hostingStartupAssembly" };

    /// <summary>Reads a manifest; on failure returns null and a message that names the file and the field.</summary>
    public static PluginManifest? TryRead(string path, out string? error)
    {
        error = null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = $"{path}: must be a JSON object";
                return null;
            }

            foreach (var p in root.EnumerateObject())
            {
                if (!s_fields.Contains(p.Name, StringComparer.Ordinal))
                {
                    error = $"{path}: unknown field '{p.Name}'; known fields: {string.Join(", ", s_fields)}";
                    return null;
                }
            }

            string? name = String(root, "name");
            string? assembly = String(root, "assembly");
            string? entry = String(root, "entryType");
            if (string.IsNullOrWhiteSpace(name) || string.IsNullOrWhiteSpace(assembly) || string.IsNullOrWhiteSpace(entry))
            {
                error = $"{path}: 'name', 'assembly' and 'entryType' are required";
                return null;
            }

            if (!name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                error = $"{path}: name '{name}' must use lowercase letters, digits and '-' only";
                return null;
            }

            int order = root.TryGetProperty("order", out var o) && o.ValueKind == JsonValueKind.Number && o.TryGetInt32(out int ov) ? ov : 0;
            bool enabled = !root.TryGetProperty("enabledByDefault", out var e) || e.ValueKind != JsonValueKind.False;
            var points = Strings(root, "interceptionPoints");
            foreach (string point in points)
            {
                if (!s_points.Contains(point, StringComparer.Ordinal))
                {
                    error = $"{path}: interceptionPoints has '{point}'; use {string.Join(", ", s_points)}";
                    return null;
                }
            }

            TimeSpan? timeout = null;
            string? timeoutText = String(root, "startTimeout");
            if (timeoutText is not null)
            {
                if (!Governor.Rules.SpecReader.TryParseDuration(timeoutText, TimeSpan.FromSeconds(1), out var t) || t <= TimeSpan.Zero)
                {
                    error = $"{path}: startTimeout '{timeoutText}' is not a duration such as \"3s\"";
                    return null;
                }

                timeout = t;
            }

            string? hostingStartup = String(root, "hostingStartupAssembly");
            if (hostingStartup is not null && (hostingStartup.Length == 0 || hostingStartup.Any(c => char.IsWhiteSpace(c) || c is ';' or ',' or '/' or '\\') || hostingStartup.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)))
            {
                error = $"{path}: hostingStartupAssembly '{hostingStartup}' must be a simple assembly name without '.dll', such as \"My.Bootstrap\"";
                return null;
            }

            var readyToRun = Strings(root, "readyToRunExclude");
            foreach (string assemblyName in readyToRun)
            {
                if (assemblyName.Length == 0 || assemblyName.Any(c => char.IsWhiteSpace(c) || c is ';' or ',' or '/'))
                {
                    error = $"{path}: readyToRunExclude has '{assemblyName}'; use simple assembly names such as \"System.Net.Http\"";
                    return null;
                }
            }

            return new PluginManifest(name, String(root, "version") ?? "0.0.0", order, assembly, entry, String(root, "description") ?? string.Empty, points, enabled, timeout, Strings(root, "ruleKinds"))
            {
                ReadyToRunExclude = readyToRun,
                ReadyToRunDegraded = String(root, "readyToRunDegraded"),
                HostingStartupAssembly = hostingStartup,
            };
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            error = $"{path}: cannot be read ({ex.Message})";
            return null;
        }
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static IReadOnlyList<string> Strings(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToArray()
            : Array.Empty<string>();
}
