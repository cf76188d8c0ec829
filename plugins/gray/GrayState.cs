using Governor.Plugins.Gray.Labeling;
using Governor.Plugins.Gray.Routing;
using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;
using Governor.Rules;

namespace Governor.Plugins.Gray;

/// <summary>
/// The rules compiled for the request path: built on an agent thread whenever the rules change
/// and published with one volatile write; the handlers read the current one and never lock.
/// </summary>
internal sealed class GrayState
{
    private GrayState(LabelMatcher matcher, string? workloadLabel, string workloadSource, ServiceDirectory directory, IReadOnlyList<string> knownLabels, long rulesVersion)
    {
        Matcher = matcher;
        WorkloadLabel = workloadLabel;
        WorkloadSource = workloadSource;
        Directory = directory;
        KnownLabels = knownLabels;
        RulesVersion = rulesVersion;
    }

    public LabelMatcher Matcher { get; }

    /// <summary>This instance's lane; null = base.</summary>
    public string? WorkloadLabel { get; }

    /// <summary>Where <see cref="WorkloadLabel"/> came from ("GOVERNOR_TAG", "WorkloadLabelRule name", "none").</summary>
    public string WorkloadSource { get; }

    public InboundLabelStats? WorkloadStats { get; private init; }

    public ServiceDirectory Directory { get; }

    /// <summary>Every label the rules and this instance know.</summary>
    public IReadOnlyList<string> KnownLabels { get; }

    public long RulesVersion { get; }

    public static GrayState Compile(RuleSet rules, string appName, string? tag, GrayStats stats, Action<string> warn)
    {
        var labelRules = new List<(string, int, string, TrafficLabelRuleSpec)>();
        foreach (var (doc, spec) in rules.Specs<TrafficLabelRuleSpec>(TrafficLabelRuleSpec.KindName))
        {
            if (spec.AppliesTo(appName))
            {
                labelRules.Add((doc.File, doc.Index, doc.Name, spec));
            }
        }

        string? workloadLabel = string.IsNullOrWhiteSpace(tag) ? null : tag.Trim();
        string source = workloadLabel is null ? "none" : "GOVERNOR_TAG";
        if (workloadLabel is not null && !LabelText.IsValid(workloadLabel))
        {
            warn($"GOVERNOR_TAG '{workloadLabel}' is not a valid label (1 to {LabelText.MaxLength} letters, digits, '-', '_' or '.'); this instance is treated as base");
            workloadLabel = null;
            source = "none (invalid GOVERNOR_TAG)";
        }

        if (workloadLabel is null && string.IsNullOrWhiteSpace(tag))
        {
            foreach (var (doc, spec) in rules.Specs<WorkloadLabelRuleSpec>(WorkloadLabelRuleSpec.KindName).OrderBy(d => d.Document.File, StringComparer.Ordinal).ThenBy(d => d.Document.Index))
            {
                if (spec.AppliesTo(appName))
                {
                    workloadLabel = spec.Label;
                    source = $"WorkloadLabelRule {doc.Name}";
                    break;
                }
            }
        }

        var workloads = rules.Specs<VirtualWorkloadsSpec>(VirtualWorkloadsSpec.KindName).Select(d => (d.Document.File, d.Document.Index, d.Document.Name, d.Spec));
        var directory = ServiceDirectory.Build(workloads, stats, warn);
        var matcher = LabelMatcher.Compile(labelRules, stats);

        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in matcher.Rules)
        {
            known.Add(rule.Label);
        }

        foreach (var service in directory.Services)
        {
            foreach (var lane in service.Lanes)
            {
                known.Add(lane.Label!);
            }
        }

        if (workloadLabel is not null)
        {
            known.Add(workloadLabel);
        }

        return new GrayState(matcher, workloadLabel, source, directory, known.ToArray(), rules.Version)
        {
            WorkloadStats = workloadLabel is null ? null : stats.Inbound(workloadLabel),
        };
    }

    /// <summary>One line for the plugin's status detail.</summary>
    public string Describe(GrayOptions options, string? outboundProvider)
    {
        string lane = WorkloadLabel is null ? "base" : $"{WorkloadLabel} ({WorkloadSource})";
        string outbound = outboundProvider is null ? "outbound not intercepted: labels are not propagated or routed" : $"outbound via {outboundProvider}";
        return $"lane {lane}; {Matcher.Rules.Count} label rule(s), {Directory.Services.Count} service(s) declared; {(options.Observe ? "observe" : "enforce")}; {(options.TrustInboundLabel ? "trusts" : "ignores")} inbound labels; {outbound}";
    }
}
