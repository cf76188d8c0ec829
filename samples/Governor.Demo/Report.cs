using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Governor.Demo;

/// <summary>The machine-readable summary (summary.json) and the HTML report beside it.</summary>
internal static class Report
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static JsonObject Summary(Options options, IReadOnlyList<StepResult> results, IReadOnlyList<string> plugins, DateTimeOffset started, TimeSpan duration, string machine)
    {
        var steps = new JsonObject();
        foreach (var r in results)
        {
            steps[r.Name] = new JsonObject
            {
                ["title"] = r.Title,
                ["status"] = JsonSerializer.SerializeToNode(r.Status, s_json),
                ["headline"] = r.Headline,
                ["facts"] = r.Facts.DeepClone(),
                ["notes"] = new JsonArray(r.Notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
            };
        }

        return new JsonObject
        {
            ["schema"] = "governor-demo/v1",
            ["mode"] = options.Quick ? "quick" : "full",
            ["startedAt"] = started.ToString("O", CultureInfo.InvariantCulture),
            ["durationSeconds"] = Math.Round(duration.TotalSeconds, 1),
            ["machine"] = machine,
            ["agentHome"] = options.AgentHome,
            ["plugins"] = new JsonArray(plugins.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            ["passed"] = results.Count(r => r.Status == StepStatus.Pass),
            ["failed"] = results.Count(r => r.Status is StepStatus.Fail or StepStatus.Error),
            ["skipped"] = results.Count(r => r.Status == StepStatus.Skipped),
            ["steps"] = steps,
            ["report"] = "report.html",
        };
    }

    public static void Write(string directory, JsonObject summary, IReadOnlyList<StepResult> results)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "summary.json"), summary.ToJsonString(s_json) + "\n");
        File.WriteAllText(Path.Combine(directory, "report.html"), Html(summary, results));
    }

    private static string Html(JsonObject summary, IReadOnlyList<StepResult> results)
    {
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Governor demo report</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 860px; color: #222; }
            h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
            table { border-collapse: collapse; margin: 8px 0; font-size: 13px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
            .pass { color: #fff; background: #2e7d32; } .fail, .error { color: #fff; background: #c62828; } .skipped { color: #222; background: #ffd54f; }
            .badge { padding: 2px 8px; border-radius: 4px; font-weight: bold; font-size: 12px; }
            .chart { display: block; margin: 12px 0; border: 1px solid #eee; }
            .note { color: #555; font-size: 13px; }
            </style></head><body>
            <h1>Governor: the guided tour</h1>
            """);
        html.Append(Fmt($"<p class=\"note\">{Esc(summary["mode"]!.GetValue<string>())} run, started {Esc(summary["startedAt"]!.GetValue<string>())}, {summary["durationSeconds"]!.GetValue<double>():0} s; {Esc(summary["machine"]!.GetValue<string>())}.<br>Agent home {Esc(summary["agentHome"]!.GetValue<string>())}, plugins: {Esc(string.Join(", ", summary["plugins"]!.AsArray().Select(p => p!.GetValue<string>())))}.</p>"));
        html.Append("<table id=\"summary\"><tr><th>capability</th><th>result</th><th>what was measured</th></tr>");
        foreach (var r in results)
        {
            html.Append(Fmt($"<tr><td>{Esc(r.Title)}</td><td><span class=\"badge {Css(r.Status)}\">{StepResult.Label(r.Status)}</span></td><td>{Esc(r.Headline)}</td></tr>"));
        }

        html.Append("</table>");
        html.Append(Fmt($"<p id=\"counts\">{summary["passed"]} passed, {summary["failed"]} failed, {summary["skipped"]} skipped (a skipped step's plugin is not installed: nothing was shown, nothing is claimed).</p>"));
        foreach (var r in results)
        {
            html.Append(Fmt($"<h2 id=\"step-{r.Name}\">{Esc(r.Title)} <span class=\"badge {Css(r.Status)}\">{StepResult.Label(r.Status)}</span></h2>"));
            html.Append(Fmt($"<p>{Esc(r.Headline)}</p>"));
            foreach (var chart in r.Charts)
            {
                html.Append(chart.ToSvg());
            }

            var scalars = r.Facts.Where(f => f.Value is JsonValue).ToList();
            if (scalars.Count > 0)
            {
                html.Append("<table>");
                foreach (var (key, value) in scalars)
                {
                    html.Append(Fmt($"<tr><th>{Esc(key)}</th><td>{Esc(value!.ToJsonString().Trim('"'))}</td></tr>"));
                }

                html.Append("</table>");
            }

            foreach (string note in r.Notes)
            {
                html.Append(Fmt($"<p class=\"note\">{Esc(note)}</p>"));
            }
        }

        html.Append("<p class=\"note\">The numbers behind this page are in summary.json beside it.</p></body></html>\n");
        return html.ToString();
    }

    private static string Css(StepStatus status) => status.ToString().ToLowerInvariant();

    private static string Esc(string text) => WebUtility.HtmlEncode(text);

    private static string Fmt(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
