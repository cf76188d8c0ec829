using Governor.Rules;
using Governor.Rules.OpenSergo;

namespace Governor.Plugins.SqlGuard.Rules;

/// <summary>
/// One FaultToleranceRule × one of its CircuitBreakerStrategy documents, compiled: which
/// templates it governs and how. Each template it matches gets its own breaker.
/// </summary>
internal sealed class GuardRule
{
    public GuardRule(string ruleName, string strategyName, CircuitBreakerStrategySpec strategy, IReadOnlyList<TemplateTarget> targets, bool observe)
    {
        RuleName = ruleName;
        StrategyName = strategyName;
        Strategy = strategy;
        Targets = targets;
        Observe = observe;
        Identity = $"{ruleName}|{strategyName}|{strategy.Fingerprint()}";
    }

    /// <summary><c>metadata.name</c> of the FaultToleranceRule.</summary>
    public string RuleName { get; }

    /// <summary><c>metadata.name</c> of the CircuitBreakerStrategy.</summary>
    public string StrategyName { get; }

    public CircuitBreakerStrategySpec Strategy { get; }

    public IReadOnlyList<TemplateTarget> Targets { get; }

    /// <summary>Observer mode: the breaker runs and reports, but never fails a command.</summary>
    public bool Observe { get; }

    /// <summary>Equal for the same rule, strategy and parameters: a breaker survives a reload while this stays the same.</summary>
    public string Identity { get; }

    public bool Matches(string database, string template)
    {
        foreach (var target in Targets)
        {
            if (target.Matches(database, template))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>The compiled rules the handler reads on every command (one volatile read); immutable.</summary>
internal sealed class GuardRuleSet
{
    /// <summary>The label that puts one rule in observer mode (on the FaultToleranceRule or the CircuitBreakerStrategy).</summary>
    public const string ObserveLabel = "sqlguard.governor.io/observe";

    public static readonly GuardRuleSet Empty = new(0, Array.Empty<GuardRule>(), Array.Empty<string>());

    public GuardRuleSet(long version, GuardRule[] rules, IReadOnlyList<string> warnings)
    {
        Version = version;
        Rules = rules;
        Warnings = warnings;
    }

    /// <summary>Changes with every compilation; templates rebind their breakers when it does.</summary>
    public long Version { get; }

    public GuardRule[] Rules { get; }

    /// <summary>Problems that span documents (a strategy that does not exist, a target that cannot work).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// Compiles the FaultToleranceRules that apply to <paramref name="appName"/> and have SQL
    /// targets, with the CircuitBreakerStrategy documents they name. Strategies of other kinds
    /// (rate limits, ...) and non-SQL targets belong to other plugins and are skipped.
    /// </summary>
    public static GuardRuleSet Compile(RuleSet rules, string appName, bool observeAll, long version)
    {
        var compiled = new List<GuardRule>();
        var warnings = new List<string>();
        foreach (var (doc, ftr) in rules.Specs<FaultToleranceRuleSpec>(FaultToleranceRuleSpec.KindName))
        {
            if (!ftr.AppliesTo(appName))
            {
                continue;
            }

            var targets = new List<TemplateTarget>();
            foreach (string name in ftr.Targets)
            {
                var target = TemplateTarget.TryParse(name, out string? problem);
                if (problem is not null)
                {
                    warnings.Add($"{doc}: {problem}");
                }

                if (target is not null)
                {
                    targets.Add(target);
                }
            }

            if (targets.Count == 0)
            {
                continue;
            }

            foreach (var reference in ftr.Strategies)
            {
                if (reference.Kind is not null && !string.Equals(reference.Kind, CircuitBreakerStrategySpec.KindName, StringComparison.Ordinal))
                {
                    continue;
                }

                var strategyDoc = FindStrategy(rules, reference.Name, doc.Namespace);
                if (strategyDoc is null)
                {
                    // Without a kind the name may well be a strategy of another plugin.
                    if (reference.Kind is not null || !NameExistsInAnyKind(rules, reference.Name))
                    {
                        warnings.Add($"{doc}: strategy '{reference.Name}' is not a CircuitBreakerStrategy in the rules; the SQL targets of this rule are not guarded by it");
                    }

                    continue;
                }

                bool observe = observeAll || IsTrue(doc.Labels) || IsTrue(strategyDoc.Labels);
                compiled.Add(new GuardRule(doc.Name, strategyDoc.Name, (CircuitBreakerStrategySpec)strategyDoc.Spec, targets, observe));
            }
        }

        return new GuardRuleSet(version, compiled.ToArray(), warnings);
    }

    private static RuleDocument? FindStrategy(RuleSet rules, string name, string? ns)
    {
        RuleDocument? any = null;
        foreach (var doc in rules.OfKind(CircuitBreakerStrategySpec.KindName))
        {
            if (!string.Equals(doc.Name, name, StringComparison.Ordinal) || doc.Spec is not CircuitBreakerStrategySpec)
            {
                continue;
            }

            // Same namespace first, as Kubernetes would resolve it.
            if (string.Equals(doc.Namespace, ns, StringComparison.Ordinal))
            {
                return doc;
            }

            any ??= doc;
        }

        return any;
    }

    private static bool NameExistsInAnyKind(RuleSet rules, string name)
    {
        foreach (var doc in rules.Documents)
        {
            if (doc.Kind != FaultToleranceRuleSpec.KindName && string.Equals(doc.Name, name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsTrue(IReadOnlyDictionary<string, string> labels)
        => labels.TryGetValue(ObserveLabel, out string? value) && (string.Equals(value, "true", StringComparison.OrdinalIgnoreCase) || value == "1");
}
