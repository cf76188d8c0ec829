using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Tests.Fakes;
using Governor.Rules;
using Xunit;

namespace Governor.Plugins.Gray.Tests;

/// <summary>Rule documents through the agent's real validator: every problem names its field path and line.</summary>
public sealed class RuleValidationTests
{
    [Fact]
    public void TrafficLabelRule_OpenSergoDocumentationExample_IsValidAsWritten()
    {
        // Verbatim from OpenSergo's traffic routing documentation.
        const string yaml = TestRules.OpenSergoExample;

        var result = TestRules.Validate(yaml);

        Assert.Empty(result.Errors);
        var spec = Assert.IsType<TrafficLabelRuleSpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal("my-app", spec.SelectorApp);
        Assert.Equal("gray", spec.TrafficLabel);
        Assert.Null(spec.Priority);
        Assert.Collection(
            spec.Match,
            m => Assert.Equal((MatchSource.Header, "X-User-Id", MatchOperator.Equal, "12345"), (m.Type, m.Key, m.Operator, m.Value)),
            m => Assert.Equal((MatchSource.Path, (string?)null, MatchOperator.Equal, "/index"), (m.Type, m.Key, m.Operator, m.Value)));
    }

    [Fact]
    public void TrafficLabelRule_EveryMistake_ReportedWithFieldPathAndLine()
    {
        const string yaml = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: TrafficLabelRule
            metadata:
              name: broken
            spec:
              trafficLabel: "gray lane"
              priority: high
              match:
              - type: headr
                condition: "=="
                key: X-User-Id
                value: 1
              - type: path
                condition: "~="
                value: /index
              - type: header
                condition: "=="
                value: 1
              - type: path
                key: X-Path
                condition: "=="
                value: /
              - type: header
                key: X-A
                condition: regex
                value: "([a-z"
              - type: query
                key: q
                condition: "=="
                value: [a, b]
                extra: 1
            """;

        var errors = TestRules.Validate(yaml).Errors;

        AssertError(errors, 6, "spec.trafficLabel", "not a valid label");
        AssertError(errors, 7, "spec.priority", "whole number");
        AssertError(errors, 9, "spec.match[0].type", "use one of: header, path, query, cookie, method");
        AssertError(errors, 14, "spec.match[1].condition", "use one of: ==, !=, in, prefix, regex");
        AssertError(errors, 16, "spec.match[2].key", "is required");
        AssertError(errors, 20, "spec.match[3].key", "is not used with type 'path'");
        AssertError(errors, 26, "spec.match[4].value", "not a valid regular expression");
        AssertError(errors, 30, "spec.match[5].value", "a list is for 'in'");
        AssertError(errors, 31, "spec.match[5].extra", "unknown field 'extra'");
        Assert.Equal(9, errors.Count);
    }

    [Fact]
    public void TrafficLabelRule_MissingLabelAndEmptyMatch_Reported()
    {
        const string yaml = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: TrafficLabelRule
            metadata:
              name: empty
            spec:
              selector:
                app: ""
              match: []
            """;

        var errors = TestRules.Validate(yaml).Errors;

        AssertError(errors, 6, "spec.trafficLabel", "is required");
        AssertError(errors, 8, "spec.match", "at least 1 item");
        AssertError(errors, 7, "spec.selector.app", "must not be empty");
    }

    [Fact]
    public void TrafficLabelRule_BaseLaneNameAsLabel_Rejected()
    {
        string yaml = TestRules.LabelRule("r", "_base", null, null, TestRules.Header("X-A", "==", "1"));

        AssertError(TestRules.Validate(yaml).Errors, 6, "spec.trafficLabel", "names the base lane");
    }

    [Fact]
    public void TrafficLabelRule_InWithListOrCommaString_ReadsEveryValue()
    {
        string yaml = TestRules.Join(
            TestRules.LabelRule("list", "gray", null, null, "- type: header", "  key: X-A", "  condition: in", "  value: [\"1\", \"2,3\"]"),
            TestRules.LabelRule("text", "gray", null, null, "- type: header", "  key: X-A", "  condition: in", "  value: \"4, 5\""));

        var specs = TestRules.Validate(yaml).Documents.Select(d => (TrafficLabelRuleSpec)d.Spec).ToList();

        Assert.Equal(new[] { "1", "2,3" }, specs[0].Match[0].Values);
        Assert.Equal(new[] { "4", "5" }, specs[1].Match[0].Values);
    }

    [Fact]
    public void WorkloadLabelRule_OpenSergoExample_IsValid()
    {
        const string yaml = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: WorkloadLabelRule
            metadata:
              name: gray-sts-label-rule
            spec:
              workloadLabels: ['gray']
              selector:
                app: my-app-gray
                database: 'foo_db'
            """;

        var result = TestRules.Validate(yaml);

        Assert.Empty(result.Errors);
        var spec = Assert.IsType<WorkloadLabelRuleSpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal("gray", spec.Label);
        // A selector that also names a database picks a database workload, not this app's process.
        Assert.False(spec.AppliesTo("my-app-gray"));
    }

    [Fact]
    public void WorkloadLabelRule_TwoLabelsAndNoSelector_Reported()
    {
        const string yaml = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: WorkloadLabelRule
            metadata:
              name: two
            spec:
              workloadLabels: [gray, blue]
            """;

        var errors = TestRules.Validate(yaml).Errors;

        AssertError(errors, 6, "spec.workloadLabels", "exactly one");
        AssertError(errors, 6, "spec.selector", "is required");
    }

    [Fact]
    public void VirtualWorkloads_ValidDocument_ReadsLanesTargetsAndBalancers()
    {
        const string yaml = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: VirtualWorkloads
            metadata:
              name: orders-workloads
            spec:
              selector:
                app: orders
              virtualWorkload:
                - name: orders-base
                  target: 127.0.0.1:5102
                  type: address
                  selector:
                    tag: _base
                - name: orders-gray
                  target: [ "127.0.0.1:6102", "http://10.0.0.7:8080", "orders-gray", "[::1]:7000" ]
                  type: address
                  loadbalance: random
                  selector:
                    tag: gray
            """;

        var result = TestRules.Validate(yaml);

        Assert.Empty(result.Errors);
        var spec = Assert.IsType<VirtualWorkloadsSpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal("orders", spec.Service);
        Assert.Null(spec.Workloads[0].Label);
        Assert.Equal("127.0.0.1:5102", Assert.Single(spec.Workloads[0].Targets).ToString());
        Assert.Equal("gray", spec.Workloads[1].Label);
        Assert.True(spec.Workloads[1].Random);
        Assert.Equal(new[] { "127.0.0.1:6102", "10.0.0.7:8080", "orders-gray", "[::1]:7000" }, spec.Workloads[1].Targets.Select(t => t.ToString()));
        Assert.Equal(-1, spec.Workloads[1].Targets[2].Port);
    }

    [Fact]
    public void VirtualWorkloads_EveryMistake_ReportedWithFieldPathAndLine()
    {
        const string yaml = """
            apiVersion: traffic.opensergo.io/v1alpha1
            kind: VirtualWorkloads
            metadata:
              name: broken
            spec:
              virtualWorkload:
                - name: a
                  target: "127.0.0.1:5102/path"
                  type: deployment
                  selector:
                    tag: gray
                - name: b
                  target: 127.0.0.1:6102
                  loadbalance: leastRequest
                  selector:
                    tag: gray
                    zone: a
            """;

        var errors = TestRules.Validate(yaml).Errors;

        AssertError(errors, 6, "spec.selector", "is required");
        AssertError(errors, 8, "spec.virtualWorkload[0].target", "is not an address");
        AssertError(errors, 9, "spec.virtualWorkload[0].type", "use one of: address, service");
        AssertError(errors, 14, "spec.virtualWorkload[1].loadbalance", "use one of: roundRobin, random");
        AssertError(errors, 17, "spec.virtualWorkload[1].selector.zone", "unknown field 'zone'");
        AssertError(errors, 16, "spec.virtualWorkload[1].selector", "lane 'gray' is already declared by workload 'a'");
    }

    [Fact]
    public void Manifest_RuleKinds_MatchTheKindsTheCodeOwns()
    {
        string manifest = File.ReadAllText(Path.Combine(Governor.Testing.RepoPaths.Root, "plugins", "gray", "plugin.json"));
        using var json = System.Text.Json.JsonDocument.Parse(manifest);
        var declared = json.RootElement.GetProperty("ruleKinds").EnumerateArray().Select(e => e.GetString()!).ToHashSet();

        Assert.Equal(new GrayPlugin().RuleKinds.Select(k => k.Kind).ToHashSet(), declared);
        Assert.All(new GrayPlugin().RuleKinds, k => Assert.Equal("traffic.opensergo.io", k.Group));
    }

    private static void AssertError(IReadOnlyList<RuleError> errors, int line, string path, string text)
    {
        Assert.True(
            errors.Any(e => e.Line == line && e.Path == path && e.Message.Contains(text, StringComparison.Ordinal)),
            $"expected line {line}, {path}: ...{text}... in:\n{string.Join("\n", errors)}");
    }
}
