using Governor.Rules;
using Governor.Status;

namespace Governor.TestPlugins;

/// <summary>
/// A well-behaved plugin that owns the rule kind <c>test.governor.io/v1 ProbeRule</c> and
/// reports what it sees through status counters, so tests can watch rules and settings arrive
/// in a real process.
/// </summary>
public sealed class ProbePlugin : IGovernorPlugin, IStatusProvider
{
    private IPluginContext? _context;
    private volatile RuleSet _rules = RuleSet.Empty;
    private long _ruleChanges;

    public IReadOnlyList<RuleKind> RuleKinds { get; } = new[]
    {
        new RuleKind("test.governor.io", "ProbeRule", new[] { "v1" }, spec =>
        {
            int? threshold = spec.Int("threshold", required: true, min: 1, max: 1000);
            string? mode = spec.String("mode", allowed: new[] { "fast", "slow" });
            spec.End();
            return threshold is null ? null : new ProbeRuleSpec(threshold.Value, mode ?? "fast");
        }),
    };

    public void Start(IPluginContext context)
    {
        _context = context;
        _rules = context.Rules.Current;
        context.Rules.Changed += set =>
        {
            _rules = set;
            Interlocked.Increment(ref _ruleChanges);
        };
        context.RegisterStatus(this);
        context.SetDetail($"setting color={context.Settings.GetChoice("color", "blue", "blue", "red")}; tag={context.Agent.Tag ?? "(base)"}; app={context.Agent.AppName}");
    }

    public void Stop()
    {
    }

    public void Collect(StatusCollector collector)
    {
        var rules = _rules;
        collector.Counter("rules", "documents", rules.OfKind("ProbeRule").Count);
        collector.Counter("rules", "changes", Interlocked.Read(ref _ruleChanges));
        long sum = 0;
        foreach (var (_, spec) in rules.Specs<ProbeRuleSpec>("ProbeRule"))
        {
            sum += spec.Threshold;
        }

        collector.Gauge("rules", "thresholdSum", sum);
        collector.State("rules", $"version {rules.Version}");
    }

    private sealed record ProbeRuleSpec(int Threshold, string Mode);
}
