using Governor.Plugins.SqlGuard.Rules;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Rules;

public sealed class CircuitBreakerRuleTests
{
    private const string Header = "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: CircuitBreakerStrategy\nmetadata:\n  name: cb\nspec:\n";

    [Fact]
    public void Validate_OpenSergoSample_ReadsEveryField()
    {
        // The sample of the OpenSergo fault-tolerance specification, as written there.
        var result = TestRules.Validate("""
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: CircuitBreakerStrategy
            metadata:
              name: circuit-breaker-slow-foo
            spec:
              strategy: SlowRequestRatio
              triggerRatio: '60%'
              statDuration: '30s'
              recoveryTimeout: '5s'
              minRequestAmount: 5
              slowConditions:
                maxAllowedRt: '500ms'
            """);

        Assert.Empty(result.Errors);
        var spec = Assert.IsType<CircuitBreakerStrategySpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal(BreakerStrategy.SlowRequestRatio, spec.Strategy);
        Assert.Equal(0.6, spec.TriggerRatio, 10);
        Assert.Equal(TimeSpan.FromSeconds(30), spec.StatDuration);
        Assert.Equal(TimeSpan.FromSeconds(5), spec.RecoveryTimeout);
        Assert.Equal(5, spec.MinRequestAmount);
        Assert.Equal(TimeSpan.FromMilliseconds(500), spec.MaxAllowedRt);
    }

    [Fact]
    public void Validate_ErrorStrategyWithDefaults_UsesSentinelDefaults()
    {
        var result = TestRules.Validate(Header + "  strategy: ErrorRequestRatio\n  triggerRatio: 0.25\n  recoveryTimeout: 10s\n  errorConditions: {}\n");

        Assert.Empty(result.Errors);
        var spec = Assert.IsType<CircuitBreakerStrategySpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal(BreakerStrategy.ErrorRequestRatio, spec.Strategy);
        Assert.Equal(0.25, spec.TriggerRatio);
        Assert.Equal(TimeSpan.FromSeconds(1), spec.StatDuration);
        Assert.Equal(5, spec.MinRequestAmount);
        Assert.Null(spec.MaxAllowedRt);
    }

    [Fact]
    public void Validate_PlainNumberMaxAllowedRt_IsMilliseconds()
    {
        var result = TestRules.Validate(Header + "  strategy: SlowRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 2\n  slowConditions:\n    maxAllowedRt: 250\n");

        var spec = Assert.IsType<CircuitBreakerStrategySpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal(TimeSpan.FromMilliseconds(250), spec.MaxAllowedRt);
        Assert.Equal(TimeSpan.FromSeconds(2), spec.RecoveryTimeout);
    }

    [Theory]
    [InlineData("  strategy: SlowRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n", "spec.slowConditions", 6, "is required")]
    [InlineData("  strategy: SlowRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n  slowConditions: {}\n", "spec.slowConditions.maxAllowedRt", 9, "is required")]
    [InlineData("  strategy: Fast\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n", "spec.strategy", 6, "'Fast' is not accepted; use one of: SlowRequestRatio, ErrorRequestRatio")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: '150%'\n  recoveryTimeout: 1s\n", "spec.triggerRatio", 7, "150% is out of range; use 0% to 100%")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 1.5\n  recoveryTimeout: 1s\n", "spec.triggerRatio", 7, "out of range; use a fraction from 0 to 1 (0.5) or a percentage ('50%')")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: half\n  recoveryTimeout: 1s\n", "spec.triggerRatio", 7, "must be a ratio such as 0.5 or '50%'")]
    [InlineData("  strategy: ErrorRequestRatio\n  recoveryTimeout: 1s\n", "spec.triggerRatio", 6, "is required")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 0.5\n", "spec.recoveryTimeout", 6, "is required")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n  statDuration: 5ms\n", "spec.statDuration", 9, "out of range")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: soon\n", "spec.recoveryTimeout", 8, "must be a duration")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n  minRequestAmount: 0\n", "spec.minRequestAmount", 9, "0 is out of range")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n  statDurationSeconds: 1\n", "spec.statDurationSeconds", 9, "unknown field 'statDurationSeconds'; known fields here: errorConditions, minRequestAmount, recoveryTimeout, slowConditions, statDuration, strategy, triggerRatio")]
    [InlineData("  strategy: ErrorRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n  errorConditions:\n    errorType: Timeout\n", "spec.errorConditions.errorType", 10, "unknown field 'errorType'")]
    public void Validate_BadField_NamesPathAndLine(string body, string path, int line, string message)
    {
        var result = TestRules.Validate(Header + body);

        Assert.Empty(result.Documents);
        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Line);
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"/rules/sql.yaml:{line}: {path}: ", error.ToString());
    }

    [Fact]
    public void Compile_TargetForms_MatchTheirTemplates()
    {
        var rules = TestRules.Compile(TestRules.Breaker(target: "sql:*", ruleName: "all", strategyName: "cb-all")
            + "\n---\n" + TestRules.Breaker(target: "sql:select * from ORDERS*", ruleName: "prefix", strategyName: "cb-prefix")
            + "\n---\n" + TestRules.Breaker(target: "sql:SELECT * FROM orders WHERE id = 42", ruleName: "exact", strategyName: "cb-exact")
            + "\n---\n" + TestRules.Breaker(target: "sql@billing:*", ruleName: "billing", strategyName: "cb-billing"));

        string[] Matching(string database, string template) => rules.Rules.Where(r => r.Matches(database, template)).Select(r => r.RuleName).ToArray();

        Assert.Equal(new[] { "all", "prefix", "exact" }, Matching("shop", "SELECT * FROM orders WHERE id = ?"));
        Assert.Equal(new[] { "all", "prefix" }, Matching("shop", "SELECT * FROM orders_archive"));
        Assert.Equal(new[] { "all" }, Matching("shop", "SELECT * FROM products"));
        Assert.Equal(new[] { "all", "billing" }, Matching("billing", "SELECT * FROM invoices"));
    }

    [Fact]
    public void Compile_NonSqlTargetsAndOtherStrategyKinds_AreLeftToOtherPlugins()
    {
        var rules = TestRules.Compile("""
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: CircuitBreakerStrategy
            metadata: { name: cb }
            spec: { strategy: ErrorRequestRatio, triggerRatio: 0.5, recoveryTimeout: 1s }
            ---
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: FaultToleranceRule
            metadata: { name: http-only }
            spec:
              targets: [ { targetResourceName: /orders } ]
              strategies: [ { name: cb } ]
            ---
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: FaultToleranceRule
            metadata: { name: mixed }
            spec:
              targets: [ { targetResourceName: /orders }, { targetResourceName: 'sql:*' } ]
              strategies: [ { name: rate-limit-foo, kind: RateLimitStrategy }, { name: cb } ]
            """);

        var rule = Assert.Single(rules.Rules);
        Assert.Equal("mixed", rule.RuleName);
        Assert.Equal("sql:*", Assert.Single(rule.Targets).Source);
        Assert.Empty(rules.Warnings);
    }

    [Fact]
    public void Compile_SelectorForAnotherApp_IsSkipped()
    {
        string yaml = TestRules.Breaker().Replace("spec:\n  targets:", "spec:\n  selector:\n    app: billing-api\n  targets:", StringComparison.Ordinal);

        Assert.Empty(TestRules.Compile(yaml, appName: "shop-api").Rules);
        Assert.Single(TestRules.Compile(yaml, appName: "billing-api").Rules);
    }

    [Fact]
    public void Compile_MissingStrategyAndBadTarget_Warn()
    {
        var rules = TestRules.Compile("""
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: FaultToleranceRule
            metadata: { name: dangling }
            spec:
              targets: [ { targetResourceName: 'sql:*' }, { targetResourceName: 'sql@:SELECT 1' } ]
              strategies: [ { name: nowhere, kind: CircuitBreakerStrategy } ]
            """);

        Assert.Empty(rules.Rules);
        Assert.Contains(rules.Warnings, w => w.Contains("strategy 'nowhere' is not a CircuitBreakerStrategy", StringComparison.Ordinal));
        Assert.Contains(rules.Warnings, w => w.Contains("names no database", StringComparison.Ordinal));
    }

    [Fact]
    public void Compile_ObserveLabelOrSetting_PutsRuleInObserverMode()
    {
        Assert.False(Assert.Single(TestRules.Compile(TestRules.Breaker()).Rules).Observe);
        Assert.True(Assert.Single(TestRules.Compile(TestRules.Breaker(), observe: true).Rules).Observe);
        Assert.True(Assert.Single(TestRules.Compile(TestRules.Breaker(extraRuleLabels: "sqlguard.governor.io/observe: 'true'")).Rules).Observe);
    }

    [Fact]
    public void Compile_SameRuleTwice_SameIdentityButChangedParametersDiffer()
    {
        var a = Assert.Single(TestRules.Compile(TestRules.Breaker()).Rules);
        var b = Assert.Single(TestRules.Compile(TestRules.Breaker()).Rules);
        var c = Assert.Single(TestRules.Compile(TestRules.Breaker(triggerRatio: "0.6")).Rules);

        Assert.Equal(a.Identity, b.Identity);
        Assert.NotEqual(a.Identity, c.Identity);
    }

    [Theory]
    [InlineData("/orders", false, null)]
    [InlineData("sql:", false, "has no template text")]
    [InlineData("sql:-- only a comment", false, "has no template text")]
    [InlineData("sql@:x", false, "names no database")]
    [InlineData("sql@shop", false, "names no database")]
    [InlineData("sql:*", true, null)]
    [InlineData("sql@shop:SELECT 1*", true, null)]
    public void TryParse_TargetText_ReadsOrExplains(string target, bool parsed, string? problem)
    {
        var result = TemplateTarget.TryParse(target, out string? why);

        Assert.Equal(parsed, result is not null);
        if (problem is null)
        {
            Assert.Null(why);
        }
        else
        {
            Assert.Contains(problem, why);
        }
    }
}
