using Governor.Plugins.Gray.Labeling;
using Governor.Rules;

namespace Governor.Plugins.Gray.Rules;

/// <summary>
/// <c>traffic.opensergo.io/v1alpha1</c> <c>WorkloadLabelRule</c>: gives the workloads its selector
/// picks a lane label. Governor reads it for its own process only: the rule applies when
/// <c>selector.app</c> names this app and the selector names nothing else (keys such as
/// <c>database</c> select other kinds of workload, which are not this process). <c>GOVERNOR_TAG</c>,
/// when set, wins over any rule.
/// </summary>
internal sealed class WorkloadLabelRuleSpec
{
    public const string KindName = "WorkloadLabelRule";

    public WorkloadLabelRuleSpec(IReadOnlyDictionary<string, string> selector, string label)
    {
        Selector = selector;
        Label = label;
    }

    public IReadOnlyDictionary<string, string> Selector { get; }

    public string Label { get; }

    public bool AppliesTo(string appName) =>
        Selector.Count == 1 && Selector.TryGetValue("app", out string? app) && string.Equals(app, appName, StringComparison.Ordinal);

    public static readonly RuleKind Kind = new(TrafficLabelRuleSpec.Group, KindName, new[] { "v1alpha1" }, Parse);

    private static object? Parse(SpecReader spec)
    {
        var labels = spec.Strings("workloadLabels", required: true, minItems: 1);
        string? label = null;
        if (labels.Count > 1)
        {
            spec.Error("workloadLabels", $"has {labels.Count} labels; an instance belongs to one lane, so give exactly one");
        }
        else if (labels.Count == 1)
        {
            label = labels[0];
            if (!LabelText.IsValid(label) || label == LabelText.Base)
            {
                spec.Error("workloadLabels", $"'{label}' is not a valid label; use 1 to {LabelText.MaxLength} letters, digits, '-', '_' or '.' (not '{LabelText.Base}')");
                label = null;
            }
        }

        var selector = spec.StringMap("selector", required: true);
        if (spec.Has("selector") && selector.Count == 0)
        {
            spec.Error("selector", "must select something, e.g. app: my-app-gray");
        }

        spec.End();
        return label is null ? null : new WorkloadLabelRuleSpec(selector, label);
    }
}
