using Governor.Core.Rules;
using Governor.Rules;
using Xunit;

namespace Governor.Plugins.Throttle.Tests.Fakes;

/// <summary>Rule files through the agent's real validator, with the core's and the plugin's kinds.</summary>
internal static class TestRules
{
    private static long s_version;

    public static RuleKindRegistry Kinds { get; } = new(CoreRuleKinds.All.Concat(new ThrottlePlugin().RuleKinds));

    public static RuleValidator.FileResult Validate(string yaml, string file = "/rules/throttle.yaml") => RuleValidator.ValidateFile(file, yaml, Kinds);

    /// <summary>A rule set from valid YAML (fails the test on any error).</summary>
    public static RuleSet Parse(string yaml)
    {
        var result = Validate(yaml);
        Assert.True(result.Errors.Count == 0, string.Join(Environment.NewLine, result.Errors));
        return new RuleSet(Interlocked.Increment(ref s_version), result.Documents);
    }

    /// <summary>A RateLimitStrategy (with extra spec lines such as "warmUpPeriodSec: 10").</summary>
    public static string RateLimit(string name, double threshold, params string[] extraSpecLines) =>
        "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: RateLimitStrategy\nmetadata:\n  name: " + name +
        "\nspec:\n  metricType: RequestAmount\n  limitMode: Local\n  threshold: " + threshold.ToString(System.Globalization.CultureInfo.InvariantCulture) +
        "\n  statDuration: \"1s\"\n" + string.Concat(extraSpecLines.Select(l => "  " + l + "\n"));

    /// <summary>A strategy or fallback document of any kind with the given spec lines.</summary>
    public static string Document(string kind, string name, params string[] specLines) =>
        "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\nspec:\n" + string.Concat(specLines.Select(l => "  " + l + "\n"));

    /// <summary>A FaultToleranceRule binding <paramref name="strategies"/> (and a fallback) to <paramref name="targets"/>.</summary>
    public static string Rule(string ruleName, string[] strategies, string? fallback, params string[] targets) =>
        "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: FaultToleranceRule\nmetadata:\n  name: " + ruleName + "\nspec:\n  targets:\n" +
        string.Concat(targets.Select(t => "    - targetResourceName: '" + t + "'\n")) +
        "  strategies:\n" + string.Concat(strategies.Select(n => "    - name: " + n + "\n")) +
        (fallback is null ? string.Empty : "  fallbackAction: " + fallback + "\n");

    public static string Rule(string ruleName, string strategy, params string[] targets) => Rule(ruleName, new[] { strategy }, null, targets);

    public static string Join(params string[] documents) => string.Join("\n---\n", documents);
}
