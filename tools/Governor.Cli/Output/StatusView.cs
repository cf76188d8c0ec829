using System.Globalization;
using System.Text.Json;

namespace Governor.Cli.Output;

/// <summary>
/// Renders a <c>governor-status/v1</c> document (the JSON the agent emits over EventPipe and
/// writes to its status file) for humans: header, plugins, interception points, rules and one
/// counter table per plugin (columns are that plugin's counters and gauges).
/// </summary>
internal static class StatusView
{
    public const string Schema = "governor-status/v1";

    /// <summary>Parses and checks the schema; throws a <see cref="CliException"/> for anything else.</summary>
    public static JsonElement Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement.Clone();
            string? schema = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("schema", out var s) ? s.GetString() : null;
            if (schema != Schema)
            {
                throw new CliException(ExitCodes.Failure, $"the agent sent status schema '{schema ?? "(none)"}', which this governor CLI does not read (it reads {Schema}).", "Use the governor CLI of the same release as the agent.");
            }

            return root;
        }
        catch (JsonException ex)
        {
            throw new CliException(ExitCodes.Failure, $"the agent's status is not valid JSON: {ex.Message}");
        }
    }

    public static void Write(Terminal t, JsonElement status, string source)
    {
        var o = t.Out;
        string version = Str(status, "version") ?? "?";
        string tag = Str(status, "tag") ?? "(base)";
        string up = DateTimeOffset.TryParse(Str(status, "startedAt"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var started)
            ? Duration(DateTimeOffset.UtcNow - started)
            : "?";
        o.WriteLine(t.Paint($"Governor {version}", Style.Heading) + $" · pid {Num(status, "pid")} · app {Str(status, "app")} · tag {tag} · up {up}");
        o.WriteLine(t.Paint(source, Style.Dim));
        o.WriteLine(Str(status, "summary"));
        o.WriteLine(t.Paint($"home {Str(status, "home")} · log {Str(status, "logFile")}", Style.Dim));
        string patching = Str(status, "patching") ?? string.Empty;
        o.WriteLine("patching " + t.Paint(patching, patching.StartsWith("available", StringComparison.Ordinal) ? Style.None : Style.Warn));

        o.WriteLine();
        o.WriteLine(t.Paint("Plugins", Style.Heading));
        var plugins = new Table("NAME", "VERSION", "STATE", "POINTS", "START", "REASON / DETAIL");
        foreach (var p in Items(status, "plugins"))
        {
            string state = Str(p, "state") ?? "?";
            string points = string.Join(',', Items(p, "interceptionPoints").Select(x => x.GetString()));
            string startMs = p.TryGetProperty("startMs", out var ms) ? $"{ms.GetDouble().ToString("0.#", CultureInfo.InvariantCulture)} ms" : "-";
            string why = string.Join(" · ", new[] { Str(p, "reason"), Str(p, "detail") }.Where(x => !string.IsNullOrEmpty(x)));
            plugins.AddStyled((Str(p, "name"), Style.Bold), (Str(p, "version"), Style.None), (state, Terminal.StateStyle(state)), (points.Length > 0 ? points : "-", Style.None), (startMs, Style.Dim), (why, state == "Failed" ? Style.Bad : Style.None));
        }

        WriteOrNone(t, plugins, "no plugins installed");

        o.WriteLine();
        o.WriteLine(t.Paint("Interception points", Style.Heading));
        var points2 = new Table("POINT", "PROVIDER", "HANDLERS", "DETAIL");
        foreach (var p in Items(status, "interception"))
        {
            string? provider = Str(p, "provider");
            string handlers = string.Join(", ", Items(p, "handlers").Select(x => x.GetString()));
            points2.AddStyled((Str(p, "point"), Style.Bold), (provider ?? "(not provided)", provider is null ? Style.Dim : Style.None), (handlers.Length > 0 ? handlers : "-", Style.None), (Str(p, "detail"), Style.Dim));
        }

        WriteOrNone(t, points2, "none");

        o.WriteLine();
        if (status.TryGetProperty("rules", out var rules))
        {
            var errors = Items(rules, "errors").Select(e => e.GetString() ?? string.Empty).ToList();
            var notes = Items(rules, "notes").Select(e => e.GetString() ?? string.Empty).ToList();
            string count = errors.Count == 0 ? t.Paint("0 errors", Style.Good) : t.Paint($"{errors.Count} error(s)", Style.Bad);
            o.WriteLine($"{t.Paint("Rules", Style.Heading)} {Str(rules, "directory")} · version {Num(rules, "version")} · {Num(rules, "documents")} document(s) · {count}");
            foreach (string e in errors)
            {
                o.WriteLine("  " + t.Paint("error: ", Style.Bad) + e);
            }

            foreach (string n in notes)
            {
                o.WriteLine("  " + t.Paint("note: ", Style.Dim) + n);
            }
        }

        var resources = Items(status, "resources").ToList();
        foreach (var group in resources.GroupBy(r => Str(r, "plugin") ?? "?"))
        {
            var counterNames = group.SelectMany(r => Names(r, "counters")).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToList();
            var gaugeNames = group.SelectMany(r => Names(r, "gauges")).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToList();
            var table = new Table(new[] { "RESOURCE", "STATE" }.Concat(counterNames).Concat(gaugeNames).ToArray());
            foreach (var r in group)
            {
                var cells = new List<(string?, Style)> { (Str(r, "resource"), Style.Bold), (Str(r, "state") ?? "-", StateStyleOfResource(Str(r, "state"))) };
                cells.AddRange(counterNames.Select(n => ((string?)Value(r, "counters", n), Style.None)));
                cells.AddRange(gaugeNames.Select(n => ((string?)Value(r, "gauges", n), Style.None)));
                table.AddStyled(cells.ToArray());
            }

            o.WriteLine();
            o.WriteLine(t.Paint($"Resources of {group.Key}", Style.Heading));
            table.Write(t, "  ");
        }

        if (resources.Count == 0)
        {
            o.WriteLine();
            o.WriteLine(t.Paint("Resources", Style.Heading) + " none reported yet");
        }
    }

    /// <summary>Compact one-line JSON (for --watch --json: one document per line).</summary>
    public static string Compact(JsonElement status) => JsonSerializer.Serialize(status);

    public static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static string Num(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetRawText() : "?";

    public static IEnumerable<JsonElement> Items(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray() : Enumerable.Empty<JsonElement>();

    private static IEnumerable<string> Names(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? v.EnumerateObject().Select(p => p.Name) : Enumerable.Empty<string>();

    private static string Value(JsonElement e, string section, string name) =>
        e.TryGetProperty(section, out var v) && v.ValueKind == JsonValueKind.Object && v.TryGetProperty(name, out var x) ? x.GetRawText() : "-";

    // Circuit breaker states and the like: open is bad news, half-open a warning.
    private static Style StateStyleOfResource(string? state) => state?.ToLowerInvariant() switch
    {
        "open" => Style.Bad,
        "half-open" or "halfopen" => Style.Warn,
        "closed" => Style.Good,
        _ => Style.None,
    };

    private static void WriteOrNone(Terminal t, Table table, string none)
    {
        if (table.Count == 0)
        {
            t.Out.WriteLine("  " + t.Paint(none, Style.Dim));
        }
        else
        {
            table.Write(t, "  ");
        }
    }

    private static string Duration(TimeSpan d) =>
        d.TotalSeconds < 0 ? "0s" : d.TotalMinutes < 1 ? $"{d.Seconds}s" : d.TotalHours < 1 ? $"{d.Minutes}m{d.Seconds:00}s" : d.TotalDays < 1 ? $"{(int)d.TotalHours}h{d.Minutes:00}m" : $"{(int)d.TotalDays}d{d.Hours:00}h";
}
