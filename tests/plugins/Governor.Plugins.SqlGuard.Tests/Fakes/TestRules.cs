using Governor.Core.Rules;
using Governor.Plugins.SqlGuard.Rules;
using Governor.Rules;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>Rule files through the agent's real validator, with the guard's kind registered as when the plugin runs.</summary>
internal static class TestRules
{
    private static long s_version;

    public static RuleKindRegistry Kinds { get; } = new(CoreRuleKinds.All.Append(CircuitBreakerStrategySpec.CreateKind()));

    public static RuleValidator.FileResult Validate(string yaml, string file = "/rules/sql.yaml") => RuleValidator.ValidateFile(file, yaml, Kinds);

    /// <summary>A rule set from valid YAML; fails the test with the errors otherwise.</summary>
    public static RuleSet Parse(string yaml)
    {
        var result = Validate(yaml);
        if (result.Errors.Count != 0)
        {
            throw new InvalidOperationException("rules do not validate:\n" + string.Join("\n", result.Errors));
        }

        return new RuleSet(Interlocked.Increment(ref s_version), result.Documents);
    }

    public static GuardRuleSet Compile(string yaml, string appName = "shop-api", bool observe = false)
        => GuardRuleSet.Compile(Parse(yaml), appName, observe, Interlocked.Increment(ref s_version));

    /// <summary>A FaultToleranceRule with its CircuitBreakerStrategy, parameterized the way most tests need.</summary>
    public static string Breaker(
        string target = "sql:*",
        string strategy = "SlowRequestRatio",
        string triggerRatio = "0.5",
        string statDuration = "1s",
        int minRequestAmount = 5,
        string recoveryTimeout = "1s",
        string maxAllowedRt = "100ms",
        string ruleName = "guard-sql",
        string strategyName = "slow-sql",
        string extraRuleLabels = "")
    {
        string conditions = strategy == "SlowRequestRatio" ? $"\n  slowConditions:\n    maxAllowedRt: {maxAllowedRt}" : string.Empty;
        string labels = extraRuleLabels.Length == 0 ? string.Empty : $"\n  labels:\n    {extraRuleLabels}";
        return $"""
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: CircuitBreakerStrategy
            metadata:
              name: {strategyName}
            spec:
              strategy: {strategy}
              triggerRatio: {triggerRatio}
              statDuration: {statDuration}
              minRequestAmount: {minRequestAmount}
              recoveryTimeout: {recoveryTimeout}{conditions}
            ---
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: FaultToleranceRule
            metadata:
              name: {ruleName}{labels}
            spec:
              targets:
                - targetResourceName: '{target}'
              strategies:
                - name: {strategyName}
            """;
    }
}
