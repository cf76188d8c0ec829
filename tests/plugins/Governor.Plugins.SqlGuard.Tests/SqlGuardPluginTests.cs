using Governor.Core.Plugins;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Governor.Rules;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests;

/// <summary>The plugin through its contract: a fake context, the real sql pipeline, rules published like the agent does.</summary>
public sealed class SqlGuardPluginTests
{
    private const string Text = "SELECT * FROM orders WHERE customer = @c";
    private const string Resource = "sql@shop:SELECT * FROM orders WHERE customer = @c";

    [Fact]
    public void Start_WithOtherHandlers_SubscribesAtOrder100AndRegistersStatus()
    {
        var context = new FakePluginContext(TestRules.Parse(TestRules.Breaker()));
        using var early = context.Interception.Sql.Subscribe(new RecordingHandler(), 0, "gray");
        using var late = context.Interception.Sql.Subscribe(new RecordingHandler(), 200, "later");
        var plugin = new SqlGuardPlugin();

        plugin.Start(context, new ManualClock());

        Assert.Equal(new[] { "gray", "sqlguard", "later" }, context.Interception.Sql.Owners);
        Assert.IsType<SqlGuard>(context.Interception.Sql.Handlers[1]);
        Assert.Same(plugin.Guard, Assert.Single(context.StatusProviders));
        Assert.Contains("1 breaker rule(s) on SQL templates", context.Detail);
        Assert.Contains("no interception plugin yet", context.Detail);
    }

    [Fact]
    public void Stop_AfterStart_UnsubscribesAndStopsListening()
    {
        var context = new FakePluginContext();
        var plugin = new SqlGuardPlugin();
        plugin.Start(context, new ManualClock());
        Assert.Equal(1, context.RuleSource.Subscribers);

        plugin.Stop();

        Assert.False(context.Interception.Sql.HasHandlers);
        Assert.Equal(0, context.RuleSource.Subscribers);
    }

    [Fact]
    public void RuleKinds_Plugin_OwnsCircuitBreakerStrategy()
    {
        var kind = Assert.Single(((IGovernorPlugin)new SqlGuardPlugin()).RuleKinds);

        Assert.Equal("fault-tolerance.opensergo.io", kind.Group);
        Assert.Equal("CircuitBreakerStrategy", kind.Kind);
        Assert.Equal(new[] { "v1alpha1" }, kind.Versions);
    }

    [Fact]
    public void Manifest_PluginJson_DeclaresSqlPointRuleKindAndEntryType()
    {
        var manifest = PluginManifest.TryRead(RepoPaths.Combine("plugins", "sqlguard", "plugin.json"), out string? error);

        Assert.Null(error);
        Assert.Equal("sqlguard", manifest!.Name);
        Assert.Equal(SqlGuardPlugin.PipelineOrder, manifest.Order);
        Assert.Equal(new[] { "sql" }, manifest.InterceptionPoints);
        Assert.Equal(new[] { "CircuitBreakerStrategy" }, manifest.RuleKinds);
        Assert.Equal(typeof(SqlGuardPlugin).FullName, manifest.EntryType);
        Assert.Equal(typeof(SqlGuardPlugin).Assembly.GetName().Name + ".dll", manifest.Assembly);
    }

    [Fact]
    public void RulesChanged_UnrelatedChange_KeepsOpenBreaker()
    {
        var (context, clock) = StartedWithOpenBreaker(TestRules.Breaker());

        context.RuleSource.Publish(TestRules.Parse(TestRules.Breaker() + "\n---\n" + TestRules.Breaker(target: "sql:SELECT 1", ruleName: "other", strategyName: "other-cb")));
        clock.Advance(TimeSpan.FromMilliseconds(500));

        Assert.IsType<SqlGuardOpenException>(Run(context, 1));
        Assert.Equal("Open", State(context));
    }

    [Fact]
    public void RulesChanged_ParametersChanged_StartsAFreshBreaker()
    {
        var (context, _) = StartedWithOpenBreaker(TestRules.Breaker());

        context.RuleSource.Publish(TestRules.Parse(TestRules.Breaker(triggerRatio: "0.9")));

        Assert.Null(Run(context, 1));
        Assert.Equal("Closed", State(context));
    }

    [Fact]
    public void RulesChanged_RuleRemoved_CommandsRunUnguarded()
    {
        var (context, _) = StartedWithOpenBreaker(TestRules.Breaker());

        context.RuleSource.Publish(RuleSet.Empty);

        Assert.Null(Run(context, 1));
        Assert.Equal("Unguarded", State(context));
        Assert.Contains("0 breaker rule(s)", context.Detail);
    }

    [Fact]
    public void RulesChanged_ObserveLabelAdded_KeepsStateButStopsRejecting()
    {
        var (context, _) = StartedWithOpenBreaker(TestRules.Breaker());

        context.RuleSource.Publish(TestRules.Parse(TestRules.Breaker(extraRuleLabels: "sqlguard.governor.io/observe: 'true'")));

        Assert.Null(Run(context, 1));
        Assert.Equal("Open (observe)", State(context));
        Assert.Equal(1, Status(context).Counter(Resource, "wouldReject"));
    }

    [Fact]
    public void OnExecuting_ObserveSetting_BreakerRunsButNoCommandFails()
    {
        var clock = new ManualClock();
        var context = new FakePluginContext(TestRules.Parse(TestRules.Breaker(recoveryTimeout: "1s")), new Dictionary<string, string> { ["observe"] = "true" });
        new SqlGuardPlugin().Start(context, clock);

        for (int i = 0; i < 5; i++)
        {
            Assert.Null(Run(context, 500));
        }

        for (int i = 0; i < 10; i++)
        {
            Assert.Null(Run(context, 1));
        }

        var status = Status(context);
        Assert.Equal("Open (observe)", status.States[Resource]);
        Assert.Equal(10, status.Counter(Resource, "wouldReject"));
        Assert.Equal(0, status.Counter(Resource, "rejected"));
        Assert.Equal(15, status.Counter(Resource, "count"));
        Assert.Contains(context.Log.With("{Mode} opened the breaker"), e => e.Text.Contains("(observer mode)", StringComparison.Ordinal) && e.Text.Contains("would be rejected", StringComparison.Ordinal));
        Assert.Contains(context.Log.With("{Verb} a command"), e => e.Text.Contains("would have rejected", StringComparison.Ordinal));
        Assert.Contains("observer mode", context.Detail);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(Run(context, 1));
        Assert.Equal("Closed (observe)", State(context));
    }

    [Fact]
    public void Collect_AfterTraffic_ReportsCountersAndStatePerTemplate()
    {
        var context = new FakePluginContext(TestRules.Parse(TestRules.Breaker(target: "sql:SELECT * FROM orders*", minRequestAmount: 3, triggerRatio: "0.5")), new Dictionary<string, string> { ["statusTemplates"] = "2" });
        new SqlGuardPlugin().Start(context, new ManualClock());

        Assert.Null(Run(context, 1));
        Assert.Null(Run(context, 1, new InvalidOperationException("boom")));
        Assert.Null(Run(context, 150));
        Assert.Null(Run(context, 150)); // 2 of 4 slow: not more than half
        Assert.Null(Run(context, 150));
        Assert.NotNull(Run(context, 1));
        Assert.NotNull(Run(context, 1));
        for (int i = 0; i < 5; i++)
        {
            // Ungoverned templates: slow means over slowThreshold (1 s by default).
            Assert.Null(PipelineCalls.Run(context.Interception.Sql, new FakeSqlCall($"SELECT * FROM t{i} WHERE x = {i}"), 1500));
            for (int j = 0; j < i; j++)
            {
                Assert.Null(PipelineCalls.Run(context.Interception.Sql, new FakeSqlCall($"SELECT * FROM t{i} WHERE x = {j}"), 10));
            }
        }

        var status = Status(context);
        Assert.Equal(5, status.Counter(Resource, "count"));
        Assert.Equal(3, status.Counter(Resource, "slow"));
        Assert.Equal(1, status.Counter(Resource, "errors"));
        Assert.Equal(2, status.Counter(Resource, "rejected"));
        Assert.Equal(0, status.Counter(Resource, "wouldReject"));
        Assert.Equal(1, status.Counter(Resource, "stateChanges"));
        Assert.Equal("Open", status.States[Resource]);

        // Of five ungoverned templates, the two busiest are reported.
        Assert.Equal(new[] { "sql@shop:SELECT * FROM t3 WHERE x = ?", "sql@shop:SELECT * FROM t4 WHERE x = ?" }, status.States.Keys.Where(k => k.Contains(" t", StringComparison.Ordinal)).Order().ToArray());
        Assert.Equal(5, status.Counter("sql@shop:SELECT * FROM t4 WHERE x = ?", "count"));
        Assert.Equal(1, status.Counter("sql@shop:SELECT * FROM t4 WHERE x = ?", "slow"));
        Assert.Equal("Unguarded", status.States["sql@shop:SELECT * FROM t4 WHERE x = ?"]);
        Assert.Equal(6, status.Gauges[("sqlguard", "templates")]);
        Assert.Equal(1, status.Gauges[("sqlguard", "rules")]);
    }

    [Fact]
    public void OnExecuting_GuardFailsInside_CommandRunsAndFaultIsLoggedRateLimited()
    {
        var context = new FakePluginContext(TestRules.Parse(TestRules.Breaker()));
        var plugin = new SqlGuardPlugin();
        plugin.Start(context, new ManualClock());

        for (int i = 0; i < 100; i++)
        {
            Assert.Null(PipelineCalls.Run(context.Interception.Sql, new BrokenSqlCall(), 500));
        }

        Assert.Equal(100, plugin.Guard!.Faults);
        var warning = Assert.Single(context.Log.With("failed inside itself"));
        Assert.Equal(GovernorLogLevel.Warning, warning.Level);
        Assert.IsType<InvalidOperationException>(warning.Exception);
        Assert.Null(Run(context, 1)); // and healthy calls still work
    }

    [Fact]
    public void OnExecuted_NeighbourHandlers_KeepTheirOwnStateSlots()
    {
        var context = new FakePluginContext(TestRules.Parse(TestRules.Breaker()));
        var before = new RecordingHandler();
        var after = new RecordingHandler();
        using var s1 = context.Interception.Sql.Subscribe(before, 0, "before");
        using var s2 = context.Interception.Sql.Subscribe(after, 200, "after");
        new SqlGuardPlugin().Start(context, new ManualClock());

        for (int i = 0; i < 7; i++)
        {
            _ = Run(context, 500);
        }

        // 5 ran and opened the breaker, 2 were rejected by the guard: the later handler never saw those.
        Assert.Equal(Enumerable.Repeat(new[] { "in", "out" }, 7).SelectMany(x => x), before.Seen);
        Assert.Equal(Enumerable.Repeat(new[] { "in", "out" }, 5).SelectMany(x => x), after.Seen);
    }

    private static (FakePluginContext Context, ManualClock Clock) StartedWithOpenBreaker(string yaml)
    {
        var clock = new ManualClock();
        var context = new FakePluginContext(TestRules.Parse(yaml));
        new SqlGuardPlugin().Start(context, clock);
        for (int i = 0; i < 5; i++)
        {
            Assert.Null(Run(context, 500));
        }

        Assert.IsType<SqlGuardOpenException>(Run(context, 1));
        return (context, clock);
    }

    private static Exception? Run(FakePluginContext context, double milliseconds, Exception? error = null)
        => PipelineCalls.Run(context.Interception.Sql, new FakeSqlCall(Text), milliseconds, error);

    private static RecordingCollector Status(FakePluginContext context) => RecordingCollector.From(Assert.Single(context.StatusProviders));

    private static string State(FakePluginContext context) => Status(context).States[Resource];
}
