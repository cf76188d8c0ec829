using Governor.Core.Rules;
using Governor.Rules;
using Xunit;

namespace Governor.Plugins.Gray.Tests.Fakes;

/// <summary>Rule files through the agent's real validator, with the core's and the gray plugin's kinds.</summary>
internal static class TestRules
{
    private static long s_version;

    /// <summary>OpenSergo's documentation example of a TrafficLabelRule, verbatim (value 12345 unquoted: a YAML number).</summary>
    public const string OpenSergoExample = """
        apiVersion: traffic.opensergo.io/v1alpha1
        kind: TrafficLabelRule
        metadata:
          name: my-traffic-label-rule
          labels:
            app: my-app
        spec:
          selector:
            app: my-app
          trafficLabel: gray
          match:
          - condition: "=="    # 匹配表达式
            type: header       # 匹配属性类型
            key: 'X-User-Id'   # 参数名
            value: 12345       # 参数值
          - condition: "=="
            value: "/index"
            type: path
        """;

    public static RuleKindRegistry Kinds { get; } = new(CoreRuleKinds.All.Concat(new GrayPlugin().RuleKinds));

    public static RuleValidator.FileResult Validate(string yaml, string file = "/rules/gray.yaml") => RuleValidator.ValidateFile(file, yaml, Kinds);

    /// <summary>A rule set from valid YAML files (fails the test on any error).</summary>
    public static RuleSet Parse(params string[] yamlFiles)
    {
        var documents = new List<RuleDocument>();
        for (int i = 0; i < yamlFiles.Length; i++)
        {
            var result = Validate(yamlFiles[i], $"/rules/{i:D2}-gray.yaml");
            Assert.True(result.Errors.Count == 0, string.Join(Environment.NewLine, result.Errors));
            documents.AddRange(result.Documents);
        }

        return new RuleSet(Interlocked.Increment(ref s_version), documents);
    }

    /// <summary>A TrafficLabelRule; <paramref name="matchLines"/> are YAML lines of the match list, indented by the caller's two spaces.</summary>
    public static string LabelRule(string name, string label, string? app, int? priority, params string[] matchLines) =>
        "apiVersion: traffic.opensergo.io/v1alpha1\nkind: TrafficLabelRule\nmetadata:\n  name: " + name + "\nspec:\n" +
        (app is null ? string.Empty : "  selector:\n    app: " + app + "\n") +
        "  trafficLabel: " + label + "\n" +
        (priority is null ? string.Empty : "  priority: " + priority + "\n") +
        "  match:\n" + string.Concat(matchLines.Select(l => "  " + l + "\n"));

    /// <summary>A header == condition as match lines.</summary>
    public static string[] Header(string key, string op, string value) => new[] { $"- type: header", $"  key: {key}", $"  condition: \"{op}\"", $"  value: {value}" };

    /// <summary>VirtualWorkloads for <paramref name="service"/>: base addresses and lanes (label → addresses).</summary>
    public static string Workloads(string service, string? baseTargets, params (string Label, string Targets)[] lanes)
    {
        string text = "apiVersion: traffic.opensergo.io/v1alpha1\nkind: VirtualWorkloads\nmetadata:\n  name: " + service + "-workloads\nspec:\n  selector:\n    app: " + service + "\n  virtualWorkload:\n";
        if (baseTargets is not null)
        {
            text += "    - name: " + service + "-base\n      target: \"" + baseTargets + "\"\n      type: address\n      selector:\n        tag: _base\n";
        }

        foreach (var (label, targets) in lanes)
        {
            text += "    - name: " + service + "-" + label + "\n      target: \"" + targets + "\"\n      selector:\n        tag: " + label + "\n";
        }

        return text;
    }

    public static string Join(params string[] documents) => string.Join("\n---\n", documents);
}
