using System.Data.Common;
using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.SqlGuard;
using Governor.Plugins.SqlGuard.Rules;
using Governor.Plugins.SqlGuard.Templates;
using Governor.Rules;

namespace Governor.Benchmarks.SqlGuard;

/// <summary>
/// What the guard costs one command: OnExecuting + OnExecuted, as the interception plugin calls
/// them, for a template whose normalization is cached (the same command text object, as
/// Dapper, EF Core and prepared statements pass), under a `sql:*` SlowRequestRatio rule.
/// The calls carry a StartTimestamp, as the interception plugin sets it (its own clock read,
/// which it needs for the elapsed time anyway, is not the guard's cost); one variant leaves it
/// unset, so the guard reads the clock itself.
/// </summary>
[MemoryDiagnoser]
public class SqlGuardBenchmarks
{
    private const string Sql = "SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = @customer AND o.status IN (1, 2, 3) ORDER BY o.created DESC LIMIT 20";

    private static readonly SqlOutcome s_fast = new(null, Stopwatch.Frequency / 1000, rejectedByHandler: false);

    private Plugins.SqlGuard.SqlGuard _guard = null!;
    private Plugins.SqlGuard.SqlGuard _unguarded = null!;
    private BenchCall _call = null!;
    private BenchCall _callWithoutStart = null!;
    private BenchCall _openCall = null!;
    private BenchCall[] _sameTextNewObjects = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var logger = new NullLogger();
        _guard = new Plugins.SqlGuard.SqlGuard(new SqlGuardOptions(), logger);
        _guard.SetRules(Rules(recovery: TimeSpan.FromHours(1)));
        _unguarded = new Plugins.SqlGuard.SqlGuard(new SqlGuardOptions(), logger);
        _call = new BenchCall(Sql) { StartTimestamp = Stopwatch.GetTimestamp() };
        _callWithoutStart = new BenchCall(Sql);
        _openCall = new BenchCall("SELECT pg_sleep(@seconds)") { StartTimestamp = Stopwatch.GetTimestamp() };

        // Open the second template's breaker: five slow commands.
        var slow = new SqlOutcome(null, Stopwatch.Frequency, rejectedByHandler: false);
        for (int i = 0; i < 5; i++)
        {
            _ = _guard.OnExecuting(_openCall);
            _guard.OnExecuted(_openCall, slow);
        }

        if (_guard.OnExecuting(_openCall) is not SqlGuardOpenException)
        {
            throw new InvalidOperationException("the breaker did not open");
        }

        // More equal-text string objects than the identity cache has slots: every lookup goes to the text cache.
        _sameTextNewObjects = Enumerable.Range(0, 4096).Select(_ => new BenchCall(new string(Sql.AsSpan())) { StartTimestamp = Stopwatch.GetTimestamp() }).ToArray();
        foreach (var call in _sameTextNewObjects)
        {
            _ = _guard.OnExecuting(call);
            _guard.OnExecuted(call, s_fast);
        }
    }

    [Benchmark(Baseline = true, Description = "closed: pass + outcome (cached template)")]
    public Exception? ClosedPass()
    {
        var rejection = _guard.OnExecuting(_call);
        _guard.OnExecuted(_call, s_fast);
        return rejection;
    }

    [Benchmark(Description = "closed: pass + outcome, no StartTimestamp (guard reads the clock)")]
    public Exception? ClosedPassReadingClock()
    {
        var rejection = _guard.OnExecuting(_callWithoutStart);
        _guard.OnExecuted(_callWithoutStart, s_fast);
        return rejection;
    }

    [Benchmark(Description = "no rule: pass + outcome (counters only)")]
    public Exception? UnguardedPass()
    {
        var rejection = _unguarded.OnExecuting(_call);
        _unguarded.OnExecuted(_call, s_fast);
        return rejection;
    }

    [Benchmark(Description = "open: rejection + outcome")]
    public Exception? OpenReject()
    {
        var rejection = _guard.OnExecuting(_openCall);
        _guard.OnExecuted(_openCall, new SqlOutcome(rejection, 0, rejectedByHandler: true));
        return rejection;
    }

    [Benchmark(Description = "closed: equal text in a new string object (text cache)")]
    public Exception? ClosedPassTextCache()
    {
        var call = _sameTextNewObjects[_next++ & 4095];
        var rejection = _guard.OnExecuting(call);
        _guard.OnExecuted(call, s_fast);
        return rejection;
    }

    [Benchmark(Description = "normalize (uncached, for reference)")]
    public string Normalize() => SqlNormalizer.Normalize(Sql, SqlDialect.PostgreSql);

    private static GuardRuleSet Rules(TimeSpan recovery)
    {
        var strategy = new CircuitBreakerStrategySpec(BreakerStrategy.SlowRequestRatio, 0.5, TimeSpan.FromSeconds(1), 5, recovery, TimeSpan.FromMilliseconds(100));
        var target = TemplateTarget.TryParse("sql:*", out _)!;
        var rule = new GuardRule("bench-rule", "bench-cb", strategy, new[] { target }, observe: false);
        return new GuardRuleSet(1, new[] { rule }, Array.Empty<string>());
    }

    private sealed class BenchCall : SqlCall
    {
        public BenchCall(string text) => CommandText = text;

        public override DbCommand Command => throw new NotSupportedException();

        public override string CommandText { get; }

        public override string Provider => "Npgsql";

        public override string? DataSource => "tcp://127.0.0.1:5432";

        public override string? Database => "shop";

        public override SqlExecuteKind Kind => SqlExecuteKind.Reader;

        public override bool IsAsync => false;
    }

    private sealed class NullLogger : IGovernorLogger
    {
        public bool IsEnabled(GovernorLogLevel level) => false;

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
        }
    }
}
