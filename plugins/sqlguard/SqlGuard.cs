using System.Diagnostics;
using Governor.Interception;
using Governor.Plugins.SqlGuard.Breaking;
using Governor.Plugins.SqlGuard.Rules;
using Governor.Plugins.SqlGuard.Templates;
using Governor.Status;

namespace Governor.Plugins.SqlGuard;

/// <summary>
/// The guard on the <c>sql</c> pipeline: resolves each command's template, asks its breakers
/// whether it may run, and feeds them the outcome. Fail-open everywhere: any exception inside
/// the guard is counted, logged (rate-limited) and the command goes on as if the guard were
/// absent.
/// <para>
/// The per-call state slot carries what the completion needs without allocating: the
/// <see cref="TemplateState"/> for an ordinary command, the <see cref="ProbePhase"/> for a probe
/// (<see cref="ProbeSet"/> in the rare case that two rules probe with one command), or a marker
/// for a command this guard rejected.
/// </para>
/// </summary>
internal sealed class SqlGuard : ISqlHandler, IStatusProvider
{
    private static readonly object s_rejected = new();

    private readonly TemplateRegistry _registry;
    private readonly TimeProvider _clock;
    private readonly bool _systemClock;
    private readonly GuardLog _log;
    private readonly SqlGuardOptions _options;
    private readonly long _defaultSlowTicks;
    private readonly LogRateLimiter _faultLog = new(TimeSpan.FromSeconds(30));
    private GuardRuleSet _rules = GuardRuleSet.Empty;
    private long _faults;

    public SqlGuard(SqlGuardOptions options, IGovernorLogger logger, TimeProvider? clock = null)
    {
        _options = options;
        _clock = clock ?? TimeProvider.System;
        _systemClock = ReferenceEquals(_clock, TimeProvider.System);
        _log = new GuardLog(logger);
        _registry = new TemplateRegistry(options.MaxTemplates, options.MaxCachedTexts, options.MaxCachedTextLength);
        _defaultSlowTicks = (long)(options.SlowThreshold.TotalSeconds * Stopwatch.Frequency);
    }

    public GuardRuleSet Rules => Volatile.Read(ref _rules);

    public SqlGuardOptions Options => _options;

    public TemplateRegistry Registry => _registry;

    /// <summary>Exceptions the guard caught inside itself (each let the command go on).</summary>
    public long Faults => Interlocked.Read(ref _faults);

    /// <summary>Publishes newly compiled rules; templates rebind lazily, keeping the breakers of unchanged rules.</summary>
    public void SetRules(GuardRuleSet rules) => Volatile.Write(ref _rules, rules);

    public Exception? OnExecuting(SqlCall call)
    {
        try
        {
            var template = _registry.Resolve(call);
            if (template is null)
            {
                call.State = null;
                return null;
            }

            var breakers = Bind(template).Breakers;
            object state = template;
            if (breakers.Length != 0)
            {
                long now = 0;
                for (int i = 0; i < breakers.Length; i++)
                {
                    var breaker = breakers[i];
                    if (breaker.IsClosed)
                    {
                        // The common case needs no clock at all.
                        continue;
                    }

                    if (now == 0)
                    {
                        now = Now(call, 0);
                    }

                    var decision = breaker.TryPass(now, out var phase);
                    if (decision == PassDecision.Pass)
                    {
                        continue;
                    }

                    if (decision == PassDecision.Probe)
                    {
                        state = AddProbe(state, (ProbePhase)phase!);
                        continue;
                    }

                    if (breaker.Rule.Observe)
                    {
                        template.CountWouldReject();
                        breaker.LogRejection(observe: true);
                        continue;
                    }

                    // Probes taken by earlier breakers for this command will not run: give them back.
                    ReleaseProbes(state);
                    template.CountRejected();
                    call.State = s_rejected;
                    breaker.LogRejection(observe: false);
                    return breaker.CreateException(phase!);
                }
            }

            call.State = state;
            return null;
        }
        catch (Exception ex)
        {
            Fault(ex);
            TryClearState(call);
            return null;
        }
    }

    public void OnExecuted(SqlCall call, in SqlOutcome outcome)
    {
        try
        {
            object? state = call.State;
            call.State = null;
            if (state is null || ReferenceEquals(state, s_rejected))
            {
                return;
            }

            if (outcome.RejectedByHandler)
            {
                // Another handler failed it: it never reached the database and says nothing about it.
                ReleaseProbes(state);
                return;
            }

            TemplateState template;
            ProbePhase? probe = null;
            ProbeSet? probes = null;
            switch (state)
            {
                case TemplateState t:
                    template = t;
                    break;
                case ProbePhase p:
                    probe = p;
                    template = p.Breaker.Template;
                    break;
                case ProbeSet set:
                    probes = set;
                    template = set.Template;
                    break;
                default:
                    return;
            }

            long elapsed = outcome.ElapsedTicks;
            var failure = outcome.Exception is { } ex && !IsCancellation(ex) ? ex : null;
            var binding = Bind(template);
            template.CountCompleted(elapsed > binding.SlowStopwatchTicks, failure is not null);
            var breakers = binding.Breakers;
            if (breakers.Length == 0 && probe is null && probes is null)
            {
                return;
            }

            long now = Now(call, elapsed);
            probe?.Breaker.OnProbeCompleted(probe, now, elapsed, failure);
            if (probes is not null)
            {
                foreach (var p in probes.Probes)
                {
                    p.Breaker.OnProbeCompleted(p, now, elapsed, failure);
                }
            }

            for (int i = 0; i < breakers.Length; i++)
            {
                var breaker = breakers[i];
                if (!IsProbedBy(breaker, probe, probes))
                {
                    breaker.OnCompleted(now, elapsed, failure is not null);
                }
            }
        }
        catch (Exception ex)
        {
            Fault(ex);
        }
    }

    public void Collect(StatusCollector collector)
    {
        var rules = Rules;
        var templates = _registry.Templates();
        var reported = new List<(TemplateState Template, TemplateBinding Binding)>();
        var ungoverned = new List<(TemplateState Template, TemplateBinding Binding)>();
        foreach (var template in templates)
        {
            var binding = Bind(template);
            (binding.Breakers.Length != 0 ? reported : ungoverned).Add((template, binding));
        }

        // Governed templates always; of the others only the busiest, so status stays readable.
        reported.AddRange(ungoverned.OrderByDescending(t => t.Template.Count).Take(_options.StatusTemplates));
        foreach (var (template, binding) in reported)
        {
            collector.Counter(template.Resource, "count", template.Count);
            collector.Counter(template.Resource, "slow", template.Slow);
            collector.Counter(template.Resource, "errors", template.Errors);
            collector.Counter(template.Resource, "rejected", template.Rejected);
            collector.Counter(template.Resource, "wouldReject", template.WouldReject);
            long stateChanges = 0;
            foreach (var breaker in binding.Breakers)
            {
                stateChanges += breaker.Transitions;
            }

            collector.Counter(template.Resource, "stateChanges", stateChanges);
            collector.State(template.Resource, DescribeState(binding));
        }

        collector.Gauge("sqlguard", "templates", _registry.TemplateCount);
        collector.Gauge("sqlguard", "cachedTexts", _registry.CachedTextCount);
        collector.Gauge("sqlguard", "rules", rules.Rules.Length);
        collector.Counter("sqlguard", "templateEvictions", _registry.TemplateEvictions);
        collector.Counter("sqlguard", "normalizations", _registry.Normalizations);
        collector.Counter("sqlguard", "faults", Faults);
    }

    /// <summary>"Closed", "Open", "HalfOpen" (the worst of the template's breakers), with " (observe)" when only observing; "Unguarded" without rules.</summary>
    public static string DescribeState(TemplateBinding binding)
    {
        if (binding.Breakers.Length == 0)
        {
            return "Unguarded";
        }

        var worst = BreakerState.Closed;
        bool observeOnly = true;
        foreach (var breaker in binding.Breakers)
        {
            var state = breaker.State;
            if (state == BreakerState.Open || (state == BreakerState.HalfOpen && worst == BreakerState.Closed))
            {
                worst = state;
            }

            observeOnly &= breaker.Rule.Observe;
        }

        return observeOnly ? worst + " (observe)" : worst.ToString();
    }

    /// <summary>The template's breakers under the current rules, rebuilt when the rules changed.</summary>
    public TemplateBinding Bind(TemplateState template)
    {
        var rules = Volatile.Read(ref _rules);
        var binding = template.Binding;
        if (binding is not null && binding.Version == rules.Version)
        {
            return binding;
        }

        return Rebind(template, rules, binding);
    }

    private TemplateBinding Rebind(TemplateState template, GuardRuleSet rules, TemplateBinding? old)
    {
        // Rare (once per template per rule change), so it may allocate; it still avoids LINQ
        // because it runs on the command path.
        var breakers = new List<CircuitBreaker>();
        long slowTicks = long.MaxValue;
        foreach (var rule in rules.Rules)
        {
            if (!rule.Matches(template.Database, template.Template))
            {
                continue;
            }

            CircuitBreaker? kept = null;
            if (old is not null)
            {
                foreach (var candidate in old.Breakers)
                {
                    if (string.Equals(candidate.Rule.Identity, rule.Identity, StringComparison.Ordinal))
                    {
                        kept = candidate;
                        break;
                    }
                }
            }

            if (kept is not null)
            {
                kept.Update(rule);
            }

            breakers.Add(kept ?? new CircuitBreaker(rule, template, _clock, _log, _options.RejectLogInterval));
            if (rule.Strategy.MaxAllowedRt is { } maxRt)
            {
                slowTicks = Math.Min(slowTicks, (long)(maxRt.TotalSeconds * Stopwatch.Frequency));
            }
        }

        var next = new TemplateBinding(rules.Version, breakers.ToArray(), slowTicks == long.MaxValue ? _defaultSlowTicks : slowTicks);
        return template.Publish(next, old);
    }

    private static object AddProbe(object state, ProbePhase probe) => state switch
    {
        TemplateState => probe,
        ProbePhase first => new ProbeSet(first.Breaker.Template, new[] { first, probe }),
        ProbeSet set => new ProbeSet(set.Template, [.. set.Probes, probe]),
        _ => probe,
    };

    private static void ReleaseProbes(object? state)
    {
        if (state is ProbePhase probe)
        {
            probe.Breaker.ReleaseProbe(probe);
        }
        else if (state is ProbeSet set)
        {
            foreach (var p in set.Probes)
            {
                p.Breaker.ReleaseProbe(p);
            }
        }
    }

    private static bool IsProbedBy(CircuitBreaker breaker, ProbePhase? probe, ProbeSet? probes)
    {
        if (probe is not null)
        {
            return ReferenceEquals(probe.Breaker, breaker);
        }

        if (probes is not null)
        {
            foreach (var p in probes.Probes)
            {
                if (ReferenceEquals(p.Breaker, breaker))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// The clock's now. Reading the clock costs 50-100 ns on some virtual machines (more than
    /// the rest of the closed path), and the interception plugin has just read it: with the
    /// system clock, the call's start (a Stopwatch timestamp, the system clock's unit) plus the
    /// elapsed time is now, for free. A test clock, or a provider that left StartTimestamp
    /// unset, is asked directly.
    /// </summary>
    private long Now(SqlCall call, long elapsedStopwatchTicks)
    {
        long start = call.StartTimestamp;
        return _systemClock && start > 0 ? start + elapsedStopwatchTicks : _clock.GetTimestamp();
    }

    /// <summary>A cancelled command says nothing about the database's health.</summary>
    private static bool IsCancellation(Exception ex) => ex is OperationCanceledException;

    private static void TryClearState(SqlCall call)
    {
        try
        {
            call.State = null;
        }
        catch (Exception)
        {
            // The call object itself is broken; nothing more to undo.
        }
    }

    private void Fault(Exception ex)
    {
        Interlocked.Increment(ref _faults);
        if (_faultLog.TryAcquire(out long suppressed))
        {
            _log.Logger.Warn(ex, "SQL guard failed inside itself and let the command run unguarded ({Suppressed} more such failures since the last message)", suppressed);
        }
    }

    /// <summary>Several probes taken by one command (two rules on one template, both half-open).</summary>
    private sealed class ProbeSet
    {
        public ProbeSet(TemplateState template, ProbePhase[] probes)
        {
            Template = template;
            Probes = probes;
        }

        public TemplateState Template { get; }

        public ProbePhase[] Probes { get; }
    }
}
