using System.Text.Json;

namespace Governor.Testing;

/// <summary>Reads an agent's governor-status-&lt;pid&gt;.json.</summary>
public sealed class StatusFile
{
    public StatusFile(string path) => Path = path;

    public string Path { get; }

    public JsonElement? TryRead()
    {
        try
        {
            if (!File.Exists(Path))
            {
                return null;
            }

            using var doc = JsonDocument.Parse(File.ReadAllText(Path));
            return doc.RootElement.Clone();
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Waits until the status satisfies <paramref name="condition"/>; fails with the last status seen.</summary>
    public JsonElement WaitFor(Func<JsonElement, bool> condition, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        JsonElement? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = TryRead();
            if (last is { } status && condition(status))
            {
                return status;
            }

            Thread.Sleep(50);
        }

        throw new TimeoutException($"Status file {Path} never showed {what ?? "the expected state"}. Last content:\n{(last is null ? "(none)" : last.Value.GetRawText())}");
    }

    public static string? PluginState(JsonElement status, string plugin) => Plugin(status, plugin)?.GetProperty("state").GetString();

    public static string? PluginReason(JsonElement status, string plugin) => Plugin(status, plugin)?.GetProperty("reason").GetString();

    public static string PluginDetail(JsonElement status, string plugin) => Plugin(status, plugin)?.GetProperty("detail").GetString() ?? string.Empty;

    public static JsonElement? Plugin(JsonElement status, string plugin)
    {
        if (!status.TryGetProperty("plugins", out var plugins))
        {
            return null;
        }

        foreach (var p in plugins.EnumerateArray())
        {
            if (p.GetProperty("name").GetString() == plugin)
            {
                return p;
            }
        }

        return null;
    }

    /// <summary>A counter of a plugin's resource, or null.</summary>
    public static long? Counter(JsonElement status, string plugin, string resource, string counter)
    {
        foreach (var r in status.GetProperty("resources").EnumerateArray())
        {
            if (r.GetProperty("plugin").GetString() == plugin && r.GetProperty("resource").GetString() == resource
                && r.GetProperty("counters").TryGetProperty(counter, out var value))
            {
                return value.GetInt64();
            }
        }

        return null;
    }
}
