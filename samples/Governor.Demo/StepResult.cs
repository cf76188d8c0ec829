using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Governor.Demo;

[JsonConverter(typeof(JsonStringEnumConverter<StepStatus>))]
internal enum StepStatus
{
    /// <summary>The capability did what it promises, measured.</summary>
    Pass,

    /// <summary>It ran and the measurement contradicts the promise.</summary>
    Fail,

    /// <summary>The step's plugin is not installed in this agent home: nothing was measured, nothing is claimed.</summary>
    Skipped,

    /// <summary>The step could not run (a service did not start, ...).</summary>
    Error,
}

/// <summary>What one step of the tour measured: the facts (JSON) and the plots (HTML).</summary>
internal sealed class StepResult
{
    public StepResult(string name, string title)
    {
        Name = name;
        Title = title;
    }

    public string Name { get; }

    public string Title { get; }

    public StepStatus Status { get; set; } = StepStatus.Error;

    /// <summary>One line: what was measured, in words.</summary>
    public string Headline { get; set; } = string.Empty;

    public JsonObject Facts { get; } = new();

    [JsonIgnore]
    public List<Chart> Charts { get; } = new();

    /// <summary>Notes that explain the numbers (shown in the report).</summary>
    public List<string> Notes { get; } = new();

    /// <summary>How the console and the report name a status.</summary>
    public static string Label(StepStatus status) => status switch
    {
        StepStatus.Pass => "PASS",
        StepStatus.Fail => "FAIL",
        StepStatus.Skipped => "SKIPPED",
        _ => "ERROR",
    };

    /// <summary>The ANSI color of a status on the console.</summary>
    public static string Color(StepStatus status) => status switch
    {
        StepStatus.Pass => "32",
        StepStatus.Skipped => "33",
        _ => "31",
    };

    public static StepResult Skipped(string name, string title, IReadOnlyList<string> missing)
    {
        var result = new StepResult(name, title)
        {
            Status = StepStatus.Skipped,
            Headline = $"skipped: plugin not installed ({string.Join(", ", missing)}: no {string.Join(", ", missing.Select(m => $"plugins/{m}/plugin.json"))} in the agent home); nothing was measured",
        };
        result.Facts["available"] = false;
        result.Facts["missingPlugins"] = new JsonArray(missing.Select(m => (JsonNode?)JsonValue.Create(m)).ToArray());
        return result;
    }

    public StepResult Judge(bool pass, string headline)
    {
        Status = pass ? StepStatus.Pass : StepStatus.Fail;
        Headline = headline;
        Facts["available"] = true;
        return this;
    }
}
