using Governor.Plugins.SqlGuard.Rules;
using Governor.Rules;

namespace Governor.Plugins.SqlGuard;

/// <summary>
/// The <c>sqlguard</c> plugin: owns the CircuitBreakerStrategy rule kind, compiles the
/// FaultToleranceRules with SQL targets, and subscribes a <see cref="SqlGuard"/> to the
/// <c>sql</c> pipeline (order 100). It needs only the contract: whichever interception plugin
/// feeds the pipeline, now or later, reaches it.
/// </summary>
internal sealed class SqlGuardPlugin : IGovernorPlugin
{
    /// <summary>The documented order of the guard in the sql pipeline.</summary>
    public const int PipelineOrder = 100;

    private readonly RuleKind[] _kinds = { CircuitBreakerStrategySpec.CreateKind() };
    private readonly object _applyGate = new();
    private IPluginContext? _context;
    private SqlGuard? _guard;
    private IDisposable? _subscription;
    private long _compilations;

    public IReadOnlyList<RuleKind> RuleKinds => _kinds;

    /// <summary>The running guard (tests).</summary>
    internal SqlGuard? Guard => _guard;

    public void Start(IPluginContext context)
    {
        Start(context, TimeProvider.System);
    }

    internal void Start(IPluginContext context, TimeProvider clock)
    {
        _context = context;
        var options = SqlGuardOptions.Read(context.Settings);
        var guard = new SqlGuard(options, context.Logger, clock);
        _guard = guard;

        // Listen first, then apply what is current: a change in between is not lost.
        context.Rules.Changed += ApplyRules;
        ApplyRules(context.Rules.Current);
        context.RegisterStatus(guard);
        _subscription = context.Interception.Sql.Subscribe(guard, PipelineOrder, context.PluginName);
        context.Logger.Info(
            "SQL guard started: {Rules} breaker rule(s){Observe}; up to {MaxTemplates} templates tracked; sql pipeline fed by {Provider}",
            guard.Rules.Rules.Length,
            options.Observe ? " in observer mode" : string.Empty,
            options.MaxTemplates,
            context.Interception.Sql.Provider ?? "no interception plugin yet");
    }

    public void Stop()
    {
        var context = _context;
        if (context is not null)
        {
            context.Rules.Changed -= ApplyRules;
        }

        Interlocked.Exchange(ref _subscription, null)?.Dispose();
    }

    private void ApplyRules(RuleSet changed)
    {
        var context = _context;
        var guard = _guard;
        if (context is null || guard is null)
        {
            return;
        }

        // Agent threads only (start, rule changes). Compiling what is current under a lock
        // means the last one to finish publishes the newest rules, whatever the interleaving.
        GuardRuleSet compiled;
        RuleSet rules;
        lock (_applyGate)
        {
            rules = context.Rules.Current;
            if (rules.Version < changed.Version)
            {
                rules = changed;
            }

            compiled = GuardRuleSet.Compile(rules, context.Agent.AppName, guard.Options.Observe, ++_compilations);
            guard.SetRules(compiled);
        }

        foreach (string warning in compiled.Warnings)
        {
            context.Logger.Warn("SQL guard rules: {Warning}", warning);
        }

        string observe = guard.Options.Observe ? ", observer mode" : string.Empty;
        context.SetDetail($"{compiled.Rules.Length} breaker rule(s) on SQL templates{observe}; sql pipeline: {context.Interception.Sql.Provider ?? "no interception plugin yet"}");
        context.Logger.Debug("SQL guard applied rules version {Version}: {Count} breaker rule(s)", rules.Version, compiled.Rules.Length);
    }
}
