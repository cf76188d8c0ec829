using Governor.Plugins.Throttle.Limiting;
using Governor.Plugins.Throttle.Resources;
using Governor.Plugins.Throttle.Rules;
using Governor.Rules;
using Governor.Rules.OpenSergo;

namespace Governor.Plugins.Throttle.Compilation;

/// <summary>What a compilation needs besides the rules.</summary>
internal sealed record CompileOptions(string AppName, bool ObserveAll, ThrottleClock Clock, IGovernorLogger Log, TimeSpan LogInterval);

/// <summary>
/// The outcome of a compilation. <see cref="Reconfigure"/> holds the in-place updates of kept
/// limiters (a new threshold, interval or maximum); they are applied just before the new rules
/// are published, so a compilation that fails midway changes nothing.
/// </summary>
internal sealed record CompileResult(CompiledRules Rules, IReadOnlyList<string> Warnings, IReadOnlyList<Action> Reconfigure);

/// <summary>
/// Turns the rule snapshot into <see cref="CompiledRules"/>: for every FaultToleranceRule that
/// applies to this app, binds its strategies of the kinds this plugin owns (others are left to
/// their plugins, silently) to each target, with the rule's fallback action. Limiters are kept
/// from the previous compilation by key (resource, kind, strategy name) unless their shape
/// changed (a rate limit's statDuration), so reloads keep windows, queues and permits.
/// </summary>
internal static class RuleCompiler
{
    /// <summary>A FaultToleranceRule label that makes the rule's throttle strategies observe only.</summary>
    public const string ObserveLabel = "throttle.governor.io/observe";

    public static CompileResult Compile(RuleSet rules, CompileOptions options, CompiledRules previous)
    {
        var warnings = new List<string>();
        var reconfigure = new List<Action>();
        var rates = ByName<RateLimitSpec>(rules, ThrottleRuleKinds.RateLimit);
        var throttles = ByName<ThrottlingSpec>(rules, ThrottleRuleKinds.Throttling);
        var concurrency = ByName<ConcurrencyLimitSpec>(rules, ThrottleRuleKinds.ConcurrencyLimit);
        var fallbacks = ByName<FallbackSpec>(rules, ThrottleRuleKinds.HttpFallback);
        var allNames = new HashSet<string>(rules.Documents.Select(d => d.Name), StringComparer.Ordinal);
        var builders = new Dictionary<string, BindingBuilder>(StringComparer.Ordinal);

        foreach (var (doc, rule) in rules.Specs<FaultToleranceRuleSpec>(FaultToleranceRuleSpec.KindName))
        {
            if (!rule.AppliesTo(options.AppName))
            {
                continue;
            }

            var strategies = ResolveStrategies(doc, rule, rates, throttles, concurrency, allNames, warnings);
            if (strategies.Count == 0)
            {
                continue;
            }

            var fallback = ResolveFallback(doc, rule, fallbacks, allNames, warnings);
            bool observe = options.ObserveAll || IsObserveLabelled(doc, warnings);
            foreach (string target in rule.Targets)
            {
                if (!ResourceName.TryParse(target, out var name, out string? problem))
                {
                    warnings.Add($"{Where(doc)}: target '{target}' {problem}; the throttle plugin ignores this target");
                    continue;
                }

                if (!builders.TryGetValue(name!.Identity, out var builder))
                {
                    builder = new BindingBuilder(name);
                    builders.Add(name.Identity, builder);
                }

                foreach (var strategy in strategies)
                {
                    builder.Add(strategy, fallback, observe);
                }
            }
        }

        var limiters = new Dictionary<string, object>(StringComparer.Ordinal);
        var stats = new Dictionary<string, ResourceStats>(StringComparer.Ordinal);
        var bindings = new List<Binding>(builders.Count);
        foreach (var builder in builders.Values)
        {
            if (!previous.Stats.TryGetValue(builder.Name.Identity, out var resourceStats))
            {
                resourceStats = new ResourceStats(builder.Name.Text, options.Log, options.LogInterval);
            }

            stats[builder.Name.Identity] = resourceStats;
            bindings.Add(builder.Build(resourceStats, options.Clock, previous.Limiters, limiters, reconfigure));
        }

        return new CompileResult(BuildTables(bindings, limiters, stats), warnings, reconfigure);
    }

    private static Dictionary<string, (RuleDocument Doc, T Spec)> ByName<T>(RuleSet rules, string kind)
        where T : class
    {
        var result = new Dictionary<string, (RuleDocument, T)>(StringComparer.Ordinal);
        foreach (var (doc, spec) in rules.Specs<T>(kind))
        {
            result.TryAdd(doc.Name, (doc, spec));
        }

        return result;
    }

    private static List<StrategyDef> ResolveStrategies(
        RuleDocument doc,
        FaultToleranceRuleSpec rule,
        Dictionary<string, (RuleDocument Doc, RateLimitSpec Spec)> rates,
        Dictionary<string, (RuleDocument Doc, ThrottlingSpec Spec)> throttles,
        Dictionary<string, (RuleDocument Doc, ConcurrencyLimitSpec Spec)> concurrency,
        HashSet<string> allNames,
        List<string> warnings)
    {
        var result = new List<StrategyDef>();
        foreach (var reference in rule.Strategies)
        {
            string? kind = reference.Kind;
            bool explicitlyMine = kind is ThrottleRuleKinds.RateLimit or ThrottleRuleKinds.Throttling or ThrottleRuleKinds.ConcurrencyLimit;
            if (kind is not null && !explicitlyMine)
            {
                // A circuit breaker or another plugin's strategy: not ours to judge.
                continue;
            }

            int before = result.Count;
            if (kind is null or ThrottleRuleKinds.RateLimit && rates.TryGetValue(reference.Name, out var rate))
            {
                result.Add(new StrategyDef(ThrottleRuleKinds.RateLimit, reference.Name, rate.Spec));
            }

            if (kind is null or ThrottleRuleKinds.Throttling && throttles.TryGetValue(reference.Name, out var throttle))
            {
                result.Add(new StrategyDef(ThrottleRuleKinds.Throttling, reference.Name, throttle.Spec));
            }

            if (kind is null or ThrottleRuleKinds.ConcurrencyLimit && concurrency.TryGetValue(reference.Name, out var limit))
            {
                result.Add(new StrategyDef(ThrottleRuleKinds.ConcurrencyLimit, reference.Name, limit.Spec));
            }

            if (result.Count == before && (explicitlyMine || !allNames.Contains(reference.Name)))
            {
                warnings.Add($"{Where(doc)}: strategy '{reference.Name}' matches no {kind ?? "rule document"} (is its metadata.name spelled the same, and is its file valid?); the rule is applied without it");
            }
        }

        return result;
    }

    private static FallbackSpec? ResolveFallback(RuleDocument doc, FaultToleranceRuleSpec rule, Dictionary<string, (RuleDocument Doc, FallbackSpec Spec)> fallbacks, HashSet<string> allNames, List<string> warnings)
    {
        if (rule.FallbackAction is not { } reference || reference.Kind is not (null or ThrottleRuleKinds.HttpFallback))
        {
            return null;
        }

        if (fallbacks.TryGetValue(reference.Name, out var fallback))
        {
            return fallback.Spec;
        }

        if (reference.Kind is not null || !allNames.Contains(reference.Name))
        {
            warnings.Add($"{Where(doc)}: fallbackAction '{reference.Name}' matches no {ThrottleRuleKinds.HttpFallback}; rejected requests get the default response (429)");
        }

        return null;
    }

    private static bool IsObserveLabelled(RuleDocument doc, List<string> warnings)
    {
        if (!doc.Labels.TryGetValue(ObserveLabel, out string? value))
        {
            return false;
        }

        if (bool.TryParse(value, out bool observe))
        {
            return observe;
        }

        warnings.Add($"{Where(doc)}: label {ObserveLabel} is '{value}'; use \"true\" or \"false\" (the rule is enforced)");
        return false;
    }

    private static CompiledRules BuildTables(List<Binding> bindings, Dictionary<string, object> limiters, Dictionary<string, ResourceStats> stats)
    {
        ResourceTable<PathEntry> Inbound(ResourceForm form) => new(bindings
            .Where(b => b.Name.Form == form)
            .GroupBy(b => b.Name.Key, StringComparer.OrdinalIgnoreCase)
            .Select(g => KeyValuePair.Create(g.Key, new PathEntry(
                g.FirstOrDefault(b => b.Name.Method is null),
                g.Where(b => b.Name.Method is not null).Select(b => KeyValuePair.Create(b.Name.Method!, b)).ToArray())))
            .ToList());

        static HostEntry HostLevel(IEnumerable<Binding> group, ResourceTable<HostEntry> paths) => new(
            group.FirstOrDefault(b => b.Name.Port == 0),
            group.Where(b => b.Name.Port != 0).Select(b => KeyValuePair.Create(b.Name.Port, b)).ToArray(),
            paths);

        var hosts = new ResourceTable<HostEntry>(bindings
            .Where(b => b.Name.Form == ResourceForm.Host)
            .GroupBy(b => b.Name.Key, StringComparer.OrdinalIgnoreCase)
            .Select(host => KeyValuePair.Create(host.Key, HostLevel(
                host.Where(b => b.Name.Path is null),
                new ResourceTable<HostEntry>(host
                    .Where(b => b.Name.Path is not null)
                    .GroupBy(b => b.Name.Path!, StringComparer.OrdinalIgnoreCase)
                    .Select(path => KeyValuePair.Create(path.Key, HostLevel(path, ResourceTable<HostEntry>.Empty)))
                    .ToList()))))
            .ToList());

        return new CompiledRules(Inbound(ResourceForm.Path), Inbound(ResourceForm.Route), hosts, bindings, limiters, stats);
    }

    private static string Where(RuleDocument doc) => $"FaultToleranceRule {doc.Name} ({Path.GetFileName(doc.File)}, document {doc.Index})";

    private sealed record StrategyDef(string Kind, string Name, object Spec);

    /// <summary>Collects the strategies bound to one resource, one guard per (kind, name).</summary>
    private sealed class BindingBuilder
    {
        private readonly List<(StrategyDef Strategy, FallbackSpec? Fallback, bool Observe)> _entries = new();

        public BindingBuilder(ResourceName name)
        {
            Name = name;
        }

        public ResourceName Name { get; }

        public void Add(StrategyDef strategy, FallbackSpec? fallback, bool observe)
        {
            int existing = _entries.FindIndex(e => e.Strategy.Kind == strategy.Kind && e.Strategy.Name == strategy.Name);
            if (existing < 0)
            {
                _entries.Add((strategy, fallback, observe));
                return;
            }

            // Bound twice (by two rules): enforcing wins over observing, the first fallback stays.
            var entry = _entries[existing];
            _entries[existing] = (entry.Strategy, entry.Fallback ?? fallback, entry.Observe && observe);
        }

        public Binding Build(ResourceStats stats, ThrottleClock clock, IReadOnlyDictionary<string, object> previous, Dictionary<string, object> limiters, List<Action> reconfigure)
        {
            var rejections = new Dictionary<FallbackSpec, Rejection>(ReferenceEqualityComparer.Instance);
            Rejection? defaultRejection = null;
            Rejection RejectionFor(FallbackSpec? fallback)
            {
                if (fallback is null)
                {
                    return defaultRejection ??= new Rejection(Name.Text, null);
                }

                if (!rejections.TryGetValue(fallback, out var rejection))
                {
                    rejection = new Rejection(Name.Text, fallback);
                    rejections.Add(fallback, rejection);
                }

                return rejection;
            }

            var rates = new List<RateGuard>();
            var queues = new List<QueueGuard>();
            var concurrency = new List<ConcurrencyGuard>();
            foreach (var (strategy, fallback, observe) in _entries)
            {
                string key = $"{Name.Identity}|{strategy.Kind}|{strategy.Name}";
                previous.TryGetValue(key, out object? kept);
                var rejection = RejectionFor(fallback);
                switch (strategy.Spec)
                {
                    case RateLimitSpec rate:
                    {
                        long windowMs = (long)rate.StatDuration.TotalMilliseconds;
                        int? warmUp = rate.WarmUp?.PeriodSec;
                        int coldFactor = rate.WarmUp?.ColdFactor ?? WarmUpSpec.DefaultColdFactor;
                        WindowRateLimiter limiter;
                        if (kept is WindowRateLimiter old && old.WindowMs == windowMs)
                        {
                            limiter = old;
                            reconfigure.Add(() => old.Reconfigure(rate.Threshold, warmUp, coldFactor));
                        }
                        else
                        {
                            limiter = new WindowRateLimiter(windowMs, rate.Threshold, warmUp, coldFactor);
                        }

                        limiters[key] = limiter;
                        rates.Add(new RateGuard(limiter, strategy.Name, stats, rejection, observe));
                        break;
                    }

                    case ThrottlingSpec throttling:
                    {
                        long interval = clock.TicksFrom(throttling.MinInterval);
                        long timeout = clock.TicksFrom(throttling.QueueTimeout);
                        UniformQueue queue;
                        if (kept is UniformQueue old)
                        {
                            queue = old;
                            reconfigure.Add(() => old.Reconfigure(interval, timeout));
                        }
                        else
                        {
                            queue = new UniformQueue(interval, timeout);
                        }

                        limiters[key] = queue;
                        queues.Add(new QueueGuard(queue, strategy.Name, stats, rejection, observe));
                        break;
                    }

                    case ConcurrencyLimitSpec limit:
                    {
                        ConcurrencyLimiter limiter;
                        if (kept is ConcurrencyLimiter old)
                        {
                            limiter = old;
                            reconfigure.Add(() => old.Reconfigure(limit.MaxConcurrency));
                        }
                        else
                        {
                            limiter = new ConcurrencyLimiter(limit.MaxConcurrency);
                        }

                        limiters[key] = limiter;
                        concurrency.Add(new ConcurrencyGuard(limiter, strategy.Name, stats, rejection, observe));
                        break;
                    }
                }
            }

            return new Binding(Name, stats, rates.ToArray(), queues.ToArray(), concurrency.ToArray());
        }
    }
}
