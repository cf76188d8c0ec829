using System.Collections;
using System.Text.Json;

namespace Governor.Core.Settings;

/// <summary>A value and the place it came from (named in warnings and in the status line).</summary>
internal sealed record Setting(string Key, string Value, string Source);

/// <summary>
/// The agent's settings, merged from (highest precedence first) the app's command-line
/// arguments, <c>GOVERNOR_*</c> environment variables and <c>governor.json</c>. Keys are paths
/// such as <c>plugins:throttle:enabled</c>, compared without regard to case, '_' or '-'.
/// Immutable: a change of governor.json produces a new store.
/// </summary>
internal sealed class SettingsStore
{
    public const string ArgPrefix = "--governor:";
    public const string EnvPrefix = "GOVERNOR_";

    // Documented flat variables whose single '_' separates words of one key, not sections.
    private static readonly Dictionary<string, string> s_envAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["ENABLED"] = "enabled",
        ["HOME"] = "home",
        ["CONFIG"] = "config",
        ["APP"] = "app",
        ["TAG"] = "tag",
        ["PATCHING"] = "patching",
        ["EXCLUDE_PROCESSES"] = "excludeProcesses",
        ["PLUGINS_DISABLED"] = "plugins:disabled",
        ["PLUGINS_ENABLED"] = "plugins:enabled",
        ["PLUGINS_START_TIMEOUT"] = "plugins:startTimeout",
        ["LOG_DIR"] = "log:dir",
        ["LOG_LEVEL"] = "log:level",
        ["LOG_STDERR"] = "log:stderr",
        ["RULES_DIR"] = "rules:dir",
        ["PROBE_PORT"] = "probe:port",
        ["STATUS_INTERVAL"] = "status:interval",
    };

    private readonly IReadOnlyList<Setting>[] _layers;

    private SettingsStore(IReadOnlyList<Setting> args, IReadOnlyList<Setting> env, IReadOnlyList<Setting> file, IReadOnlyList<string> problems)
    {
        _layers = new[] { args, env, file };
        Problems = problems;
    }

    /// <summary>Problems found while reading the sources (a malformed governor.json, ...).</summary>
    public IReadOnlyList<string> Problems { get; }

    public IReadOnlyList<Setting> Arguments => _layers[0];

    public IReadOnlyList<Setting> Environment => _layers[1];

    public IReadOnlyList<Setting> File => _layers[2];

    public static string Canonical(string key)
    {
        Span<char> buffer = key.Length <= 256 ? stackalloc char[key.Length] : new char[key.Length];
        int n = 0;
        foreach (char c in key)
        {
            if (c is '_' or '-')
            {
                continue;
            }

            buffer[n++] = char.ToLowerInvariant(c);
        }

        return new string(buffer[..n]);
    }

    public static SettingsStore Load(IReadOnlyList<string> args, IDictionary environment, string? configFile)
    {
        var problems = new List<string>();
        var fromArgs = ReadArgs(args);
        var fromEnv = ReadEnvironment(environment);
        var fromFile = configFile is null ? Array.Empty<Setting>() : ReadFile(configFile, problems);
        return new SettingsStore(fromArgs, fromEnv, fromFile, problems);
    }

    /// <summary>The highest-precedence value for <paramref name="key"/>, or null.</summary>
    public Setting? Get(string key)
    {
        string canonical = Canonical(key);
        foreach (var layer in _layers)
        {
            for (int i = layer.Count - 1; i >= 0; i--)
            {
                if (Canonical(layer[i].Key) == canonical)
                {
                    return layer[i];
                }
            }
        }

        return null;
    }

    /// <summary>The value of <paramref name="key"/> in each source that has it, highest precedence first.</summary>
    public IEnumerable<Setting> GetAll(string key)
    {
        string canonical = Canonical(key);
        foreach (var layer in _layers)
        {
            for (int i = layer.Count - 1; i >= 0; i--)
            {
                if (Canonical(layer[i].Key) == canonical)
                {
                    yield return layer[i];
                    break;
                }
            }
        }
    }

    /// <summary>Every key in every source (for checks such as unknown plugin names).</summary>
    public IEnumerable<Setting> All() => _layers.SelectMany(l => l);

    /// <summary>A copy with a different governor.json layer (hot reload of the file).</summary>
    public SettingsStore WithFile(string? configFile)
    {
        var problems = new List<string>();
        var fromFile = configFile is null ? Array.Empty<Setting>() : ReadFile(configFile, problems);
        return new SettingsStore(_layers[0], _layers[1], fromFile, problems);
    }

    internal static IReadOnlyList<Setting> ReadArgs(IReadOnlyList<string> args)
    {
        var result = new List<Setting>();
        foreach (string arg in args)
        {
            if (!arg.StartsWith(ArgPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                // "--governor:x" alone means true, like a switch.
                result.Add(new Setting(arg[ArgPrefix.Length..], "true", arg));
                continue;
            }

            string key = arg[ArgPrefix.Length..eq];
            result.Add(new Setting(key, arg[(eq + 1)..], $"--governor:{key}"));
        }

        return result;
    }

    internal static IReadOnlyList<Setting> ReadEnvironment(IDictionary environment)
    {
        var result = new List<Setting>();
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is not string name || entry.Value is not string value || !name.StartsWith(EnvPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            string rest = name[EnvPrefix.Length..];
            string key = s_envAliases.TryGetValue(rest, out string? alias)
                ? alias
                : rest.Replace("__", ":", StringComparison.Ordinal);
            result.Add(new Setting(key, value, name));
        }

        // Deterministic order regardless of the environment block's order.
        result.Sort((a, b) => string.CompareOrdinal(a.Source, b.Source));
        return result;
    }

    internal static IReadOnlyList<Setting> ReadFile(string path, List<string> problems)
    {
        var result = new List<Setting>();
        if (!System.IO.File.Exists(path))
        {
            return result;
        }

        try
        {
            using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"{path}: the top level must be a JSON object such as {{ \"plugins\": {{ \"throttle\": {{ \"enabled\": false }} }} }}; the file is ignored.");
                return result;
            }

            // Accept both { "plugins": ... } and { "governor": { "plugins": ... } }.
            if (root.TryGetProperty("governor", out var inner) && inner.ValueKind == JsonValueKind.Object)
            {
                root = inner;
            }

            Flatten(root, string.Empty, path, result);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            problems.Add($"{path}: cannot be read as JSON ({ex.Message}); the file is ignored. Fix the syntax or remove the file.");
        }

        return result;
    }

    private static void Flatten(JsonElement element, string prefix, string file, List<Setting> result)
    {
        foreach (var property in element.EnumerateObject())
        {
            string key = prefix.Length == 0 ? property.Name : $"{prefix}:{property.Name}";
            switch (property.Value.ValueKind)
            {
                case JsonValueKind.Object:
                    Flatten(property.Value, key, file, result);
                    break;
                case JsonValueKind.Array:
                    result.Add(new Setting(key, string.Join(",", property.Value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText())), $"{System.IO.Path.GetFileName(file)} ({key})"));
                    break;
                case JsonValueKind.String:
                    result.Add(new Setting(key, property.Value.GetString() ?? string.Empty, $"{System.IO.Path.GetFileName(file)} ({key})"));
                    break;
                case JsonValueKind.Null:
                    break;
                default:
                    result.Add(new Setting(key, property.Value.GetRawText(), $"{System.IO.Path.GetFileName(file)} ({key})"));
                    break;
            }
        }
    }
}
