namespace Governor.Rules.OpenSergo;

/// <summary>
/// <c>fault-tolerance.opensergo.io/v1alpha1</c> <c>FaultToleranceRule</c>: binds strategies
/// (rate limit, throttling, concurrency limit, circuit breaker, ...) and an optional fallback
/// action to target resources. Owned by the agent core because several plugins read it: each
/// plugin acts on the strategies of the kinds it owns and ignores the others.
/// </summary>
public sealed class FaultToleranceRuleSpec
{
    public const string Group = "fault-tolerance.opensergo.io";
    public const string KindName = "FaultToleranceRule";

    public FaultToleranceRuleSpec(string? selectorApp, IReadOnlyList<string> targets, IReadOnlyList<StrategyRef> strategies, StrategyRef? fallbackAction)
    {
        SelectorApp = selectorApp;
        Targets = targets;
        Strategies = strategies;
        FallbackAction = fallbackAction;
    }

    /// <summary><c>spec.selector.app</c>: the rule applies only to this app (see <see cref="AgentInfo.AppName"/>); null applies to every app.</summary>
    public string? SelectorApp { get; }

    /// <summary><c>spec.targets[].targetResourceName</c>.</summary>
    public IReadOnlyList<string> Targets { get; }

    /// <summary><c>spec.strategies[]</c>: names (and optionally kinds) of strategy documents.</summary>
    public IReadOnlyList<StrategyRef> Strategies { get; }

    /// <summary><c>spec.fallbackAction</c>: a name, or an object with <c>name</c> and <c>kind</c>.</summary>
    public StrategyRef? FallbackAction { get; }

    /// <summary>True when this rule applies to the app named <paramref name="appName"/>.</summary>
    public bool AppliesTo(string appName) => SelectorApp is null || string.Equals(SelectorApp, appName, StringComparison.Ordinal);

    public static readonly RuleKind Kind = new(Group, KindName, new[] { "v1alpha1" }, Parse);

    private static object? Parse(SpecReader spec)
    {
        string? app = null;
        var selector = spec.Object("selector");
        if (selector is not null)
        {
            app = selector.String("app");
            selector.End();
        }

        var targets = new List<string>();
        foreach (var t in spec.Objects("targets", required: true, minItems: 1))
        {
            var name = t.String("targetResourceName", required: true);
            if (name is not null)
            {
                if (name.Length == 0)
                {
                    t.Error("targetResourceName", "must not be empty");
                }

                targets.Add(name);
            }

            t.End();
        }

        var strategies = new List<StrategyRef>();
        foreach (var s in spec.Objects("strategies", required: true, minItems: 1))
        {
            var name = s.String("name", required: true);
            var kind = s.String("kind");
            if (name is not null)
            {
                strategies.Add(new StrategyRef(name, kind));
            }

            s.End();
        }

        StrategyRef? fallback = null;
        var fallbackNode = spec.Node.Get("fallbackAction");
        if (fallbackNode is { Kind: RuleNodeKind.Mapping })
        {
            var f = spec.Object("fallbackAction")!;
            var name = f.String("name", required: true);
            var kind = f.String("kind");
            f.End();
            fallback = name is null ? null : new StrategyRef(name, kind);
        }
        else
        {
            var name = spec.String("fallbackAction");
            fallback = name is null ? null : new StrategyRef(name, null);
        }

        spec.End();
        return new FaultToleranceRuleSpec(app, targets, strategies, fallback);
    }
}

/// <summary>A reference to another rule document by <c>metadata.name</c> (and optionally kind).</summary>
public sealed record StrategyRef(string Name, string? Kind);
