using System.Data.Common;
using Governor.Interception;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Breaking;

/// <summary>The breaker's state machine, on a manual clock, through the guard's handler with hand-made outcomes.</summary>
public sealed class CircuitBreakerTests
{
    private const string Text = "SELECT * FROM orders WHERE customer = @c";
    private const string Resource = "sql@shop:SELECT * FROM orders WHERE customer = @c";
    private const double Slow = 500;
    private const double Fast = 5;

    [Fact]
    public void OnExecuted_SlowRatioAboveTrigger_OpensWithinOneWindow()
    {
        var h = new GuardHarness(TestRules.Breaker(triggerRatio: "0.5", minRequestAmount: 5, statDuration: "1s"));

        foreach (double ms in new[] { Slow, Fast, Slow, Fast })
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), ms));
            h.Clock.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal("Closed", h.State(Resource));
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow)); // 3 of 5 slow: 0.6 > 0.5

        Assert.Equal("Open", h.State(Resource));
        Assert.IsType<SqlGuardOpenException>(h.Run(new FakeSqlCall(Text), Fast));
    }

    [Fact]
    public void OnExecuted_FewerThanMinRequestAmount_StaysClosed()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5));

        for (int i = 0; i < 4; i++)
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        }

        Assert.Equal("Closed", h.State(Resource));
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        Assert.Equal("Open", h.State(Resource));
    }

    [Fact]
    public void OnExecuted_RatioEqualToTrigger_StaysClosed()
    {
        var h = new GuardHarness(TestRules.Breaker(triggerRatio: "0.5", minRequestAmount: 4));

        foreach (double ms in new[] { Fast, Slow, Fast, Slow })
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), ms));
        }

        // 2 of 4 = 0.5, not more than 0.5.
        Assert.Equal("Closed", h.State(Resource));
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        Assert.Equal("Open", h.State(Resource));
    }

    [Fact]
    public void OnExecuted_TriggerRatioOneAndEveryCommandSlow_Opens()
    {
        var h = new GuardHarness(TestRules.Breaker(triggerRatio: "100%", minRequestAmount: 3));

        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        Assert.Equal("Closed", h.State(Resource)); // 2 of 3

        var fresh = new GuardHarness(TestRules.Breaker(triggerRatio: "1.0", minRequestAmount: 3));
        for (int i = 0; i < 3; i++)
        {
            Assert.Null(fresh.Run(new FakeSqlCall(Text), Slow));
        }

        // 3 of 3 = 1.0 equals the trigger: Sentinel opens at 100 % too.
        Assert.Equal("Open", fresh.State(Resource));
    }

    [Fact]
    public void OnExecuted_SlowDurationEqualToMaxAllowedRt_IsNotSlow()
    {
        var h = new GuardHarness(TestRules.Breaker(triggerRatio: "0.4", minRequestAmount: 2, maxAllowedRt: "100ms"));

        Assert.Null(h.Run(new FakeSqlCall(Text), 100));
        Assert.Null(h.Run(new FakeSqlCall(Text), 100));
        Assert.Equal("Closed", h.State(Resource));

        Assert.Null(h.Run(new FakeSqlCall(Text), 100.5));
        Assert.Null(h.Run(new FakeSqlCall(Text), 100.5));
        Assert.Equal("Open", h.State(Resource));
    }

    [Fact]
    public void OnExecuted_SlowCommandsSpreadOverMoreThanAWindow_StaysClosed()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, statDuration: "1s"));

        for (int i = 0; i < 20; i++)
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
            h.Clock.Advance(TimeSpan.FromMilliseconds(300)); // at most 4 in any 1 s window
        }

        Assert.Equal("Closed", h.State(Resource));
    }

    [Fact]
    public void OnExecuting_OpenUntilRecoveryTimeout_ThenExactlyOneProbe()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "2s"));
        Open(h);

        h.Clock.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.IsType<SqlGuardOpenException>(h.Run(new FakeSqlCall(Text), Fast));

        h.Clock.Advance(TimeSpan.FromMilliseconds(1));
        var probe = new FakeSqlCall(Text);
        Assert.Null(h.Begin(probe));
        Assert.Equal("HalfOpen", h.State(Resource));
        for (int i = 0; i < 10; i++)
        {
            // While the probe runs, everything else is still rejected.
            var rejected = h.Begin(new FakeSqlCall(Text));
            Assert.Contains("one probe command is running", Assert.IsType<SqlGuardOpenException>(rejected).Message);
        }

        h.End(probe, Fast);
        Assert.Equal("Closed", h.State(Resource));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
    }

    [Fact]
    public void OnProbeCompleted_FastSuccess_ClosesAndClearsWindow()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, statDuration: "10s", recoveryTimeout: "1s"));
        Open(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Equal("Closed", h.State(Resource));

        // Five slow commands are still within the 10 s window; only a cleared window stays closed now.
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        Assert.Equal("Closed", h.State(Resource));
    }

    [Fact]
    public void OnProbeCompleted_SlowProbe_ReopensForAnotherRecoveryTimeout()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "1s"));
        Open(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        Assert.Equal("Open", h.State(Resource));

        h.Clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.IsType<SqlGuardOpenException>(h.Run(new FakeSqlCall(Text), Fast));
        h.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Equal("Closed", h.State(Resource));
    }

    [Fact]
    public void OnProbeCompleted_FastButFailedProbe_Reopens()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "1s"));
        Open(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Null(h.Run(new FakeSqlCall(Text), Fast, new InvalidOperationException("deadlock detected")));

        Assert.Equal("Open", h.State(Resource));
        Assert.Contains(h.Log.With("{Mode} re-opened"), e => e.Text.Contains("deadlock detected", StringComparison.Ordinal));
    }

    [Fact]
    public void OnExecuted_ErrorRatioAboveTrigger_OpensAndProbeDecides()
    {
        var h = new GuardHarness(TestRules.Breaker(strategy: "ErrorRequestRatio", triggerRatio: "50%", minRequestAmount: 4, recoveryTimeout: "1s", strategyName: "errors-sql"));
        var error = new InvalidOperationException("relation does not exist");

        // Slow but successful commands are not errors.
        for (int i = 0; i < 10; i++)
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        }

        h.Clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast, error));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast, error));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast, new OperationCanceledException()));
        Assert.Equal("Closed", h.State(Resource)); // 2 of 4: a cancellation is not an error

        Assert.Null(h.Run(new FakeSqlCall(Text), Fast, error)); // 3 of 5
        Assert.Equal("Open", h.State(Resource));
        Assert.IsType<SqlGuardOpenException>(h.Run(new FakeSqlCall(Text), Fast));

        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast, error));
        Assert.Equal("Open", h.State(Resource));

        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(h.Run(new FakeSqlCall(Text), Slow)); // slow but successful: fine for an error breaker
        Assert.Equal("Closed", h.State(Resource));
    }

    [Fact]
    public void OnExecuting_ProbeNeverCompletes_NextProbeAfterProbeTimeout()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "1s"));
        Open(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(h.Begin(new FakeSqlCall(Text))); // its completion is lost

        h.Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.NotNull(h.Begin(new FakeSqlCall(Text)));
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.NotNull(h.Begin(new FakeSqlCall(Text))); // 30 s: the probe counts as lost, the breaker re-opens
        Assert.Equal("Open", h.State(Resource));

        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Equal("Closed", h.State(Resource));
    }

    [Fact]
    public void OnExecuted_ProbeFailedByAnotherHandler_NextCommandProbes()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "1s"));
        Open(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var probe = new FakeSqlCall(Text);
        Assert.Null(h.Guard.OnExecuting(probe));

        // A later handler (a throttle, say) failed the probe before it reached the database.
        h.Guard.OnExecuted(probe, new SqlOutcome(new InvalidOperationException("throttled"), 0, rejectedByHandler: true));

        Assert.Equal("Open", h.State(Resource));
        Assert.Null(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Equal("Closed", h.State(Resource));
    }

    [Fact]
    public void OnExecuting_Open_ExceptionIsDbExceptionNamingTemplateRuleAndRetryTime()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "5s", ruleName: "orders-guard", strategyName: "orders-slow"));
        var openedAt = h.Clock.GetUtcNow();
        Open(h);

        var ex = h.Run(new FakeSqlCall(Text), Fast);

        var dbException = Assert.IsAssignableFrom<DbException>(ex);
        var open = Assert.IsType<SqlGuardOpenException>(dbException);
        Assert.Contains("SELECT * FROM orders WHERE customer = @c", open.Message);
        Assert.Contains("'orders-guard'", open.Message);
        Assert.Contains("'orders-slow'", open.Message);
        Assert.Contains("database 'shop'", open.Message);
        Assert.Contains("5 of 5 commands in 1s slower than 100ms", open.Message);
        string retry = openedAt.AddSeconds(5).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"It will try again at {retry}", open.Message);
        Assert.Equal(openedAt.AddSeconds(5), open.RetryAt);
        Assert.Equal("SELECT * FROM orders WHERE customer = @c", open.Template);
        Assert.Equal("shop", open.Database);
        Assert.Equal("orders-guard", open.RuleName);
        Assert.Equal("orders-slow", open.StrategyName);
        Assert.False(open.IsTransient);
    }

    [Fact]
    public void OnExecuting_OtherTemplateWhileOneIsOpen_Runs()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5));
        Open(h);

        Assert.Null(h.Run(new FakeSqlCall("SELECT * FROM products WHERE id = @id"), Fast));
        Assert.NotNull(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Equal("Closed", h.State("sql@shop:SELECT * FROM products WHERE id = @id"));
    }

    [Fact]
    public void OnExecuting_TwoRulesOnOneTemplate_EitherOpenRejects()
    {
        string yaml = TestRules.Breaker(target: "sql:SELECT * FROM orders*", minRequestAmount: 50, ruleName: "lenient", strategyName: "lenient-cb")
            + "\n---\n" + TestRules.Breaker(target: "sql:*", minRequestAmount: 3, ruleName: "strict", strategyName: "strict-cb");
        var h = new GuardHarness(yaml);

        for (int i = 0; i < 3; i++)
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        }

        var ex = Assert.IsType<SqlGuardOpenException>(h.Run(new FakeSqlCall(Text), Fast));
        Assert.Equal("strict", ex.RuleName);
    }

    [Fact]
    public void OnExecuted_ManyThreadsTripTogether_EachStateChangeLoggedOnce()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "1s"));

        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ => h.Run(new FakeSqlCall(Text), Slow));
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ => h.Run(new FakeSqlCall(Text), Fast));

        Assert.Single(h.Log.With("{Mode} opened the breaker"));
        Assert.Single(h.Log.With("{Mode} half-opened the breaker"));
        Assert.Single(h.Log.With("{Mode} closed the breaker"));
        Assert.Equal("Closed", h.State(Resource));
        Assert.Equal(Resource, h.Log.With("{Mode} opened the breaker")[0].Args[1]);
    }

    [Fact]
    public void OnExecuting_ManyRejections_LogRateLimited()
    {
        var h = new GuardHarness(TestRules.Breaker(minRequestAmount: 5, recoveryTimeout: "1h"));
        Open(h);

        for (int i = 0; i < 500; i++)
        {
            Assert.NotNull(h.Run(new FakeSqlCall(Text), Fast));
        }

        Assert.Single(h.Log.With("{Verb} a command"));
        Assert.Equal(500, h.Status().Counter(Resource, "rejected"));
    }

    private static void Open(GuardHarness h)
    {
        for (int i = 0; i < 5; i++)
        {
            Assert.Null(h.Run(new FakeSqlCall(Text), Slow));
        }

        Assert.Equal("Open", h.State(Resource));
    }
}
