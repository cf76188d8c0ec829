using Governor.Core.Rules;
using Governor.Rules;
using Governor.Rules.OpenSergo;
using Xunit;

namespace Governor.Core.Tests.Rules;

public sealed class RuleValidatorTests
{
    internal static readonly RuleKind Probe = new("test.governor.io", "ProbeRule", new[] { "v1" }, spec =>
    {
        int? threshold = spec.Int("threshold", required: true, min: 1, max: 1000);
        spec.String("mode", allowed: new[] { "fast", "slow" });
        spec.Duration("window");
        spec.End();
        return threshold;
    });

    internal static RuleKindRegistry Kinds { get; } = new(CoreRuleKinds.All.Append(Probe), new Dictionary<string, string> { ["TrafficLabelRule"] = "gray" });

    [Fact]
    public void ValidateFile_MultiDocumentYaml_AcceptsEveryDocument()
    {
        var result = RuleValidator.ValidateFile("r.yaml", """
            apiVersion: test.governor.io/v1
            kind: ProbeRule
            metadata:
              name: a
              labels: { app: shop }
            spec:
              threshold: 5
              window: 500ms
            ---
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: FaultToleranceRule
            metadata:
              name: my-rule
              namespace: prod
            spec:
              selector:
                app: my-app
              targets:
                - targetResourceName: '/foo'
              strategies:
                - name: rate-limit-foo
              fallbackAction: fallback-foo
            """, Kinds);

        Assert.Empty(result.Errors);
        Assert.Equal(2, result.Documents.Count);
        Assert.Equal(5, result.Documents[0].Spec);
        Assert.Equal("shop", result.Documents[0].Labels["app"]);
        var ftr = Assert.IsType<FaultToleranceRuleSpec>(result.Documents[1].Spec);
        Assert.Equal("my-app", ftr.SelectorApp);
        Assert.Equal(new[] { "/foo" }, ftr.Targets);
        Assert.Equal("rate-limit-foo", Assert.Single(ftr.Strategies).Name);
        Assert.Equal("fallback-foo", ftr.FallbackAction?.Name);
        Assert.Equal(1, result.Documents[1].Index);
        Assert.Equal("prod", result.Documents[1].Namespace);
    }

    [Fact]
    public void ValidateFile_JsonArrayOfDocuments_IsAccepted()
    {
        var result = RuleValidator.ValidateFile("r.json", """
            [ { "apiVersion": "test.governor.io/v1", "kind": "ProbeRule", "metadata": { "name": "a" }, "spec": { "threshold": 1 } },
              { "apiVersion": "test.governor.io/v1", "kind": "ProbeRule", "metadata": { "name": "b" }, "spec": { "threshold": 2 } } ]
            """, Kinds);

        Assert.Empty(result.Errors);
        Assert.Equal(new object[] { 1, 2 }, result.Documents.Select(d => d.Spec));
    }

    [Theory]
    [InlineData("threshold: 5\n  treshold: 6", "spec.treshold", 7, "unknown field 'treshold'")]
    [InlineData("threshold: \"5\"", "spec.threshold", 6, "must be a whole number")]
    [InlineData("threshold: 5000", "spec.threshold", 6, "5000 is out of range; use 1 to 1000")]
    [InlineData("threshold: 1\n  mode: medium", "spec.mode", 7, "'medium' is not accepted; use one of: fast, slow")]
    [InlineData("threshold: 1\n  window: soon", "spec.window", 7, "must be a duration")]
    [InlineData("mode: fast", "spec.threshold", 6, "is required")]
    public void ValidateFile_BadField_NamesFileDocumentLineAndPath(string specBody, string path, int line, string message)
    {
        string text = "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata:\n  name: a\nspec:\n  " + specBody + "\n";

        var result = RuleValidator.ValidateFile("/rules/probe.yaml", text, Kinds);

        Assert.Empty(result.Documents);
        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Line);
        Assert.Equal(0, error.DocumentIndex);
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"/rules/probe.yaml:{line}: {path}: ", error.ToString());
        Assert.EndsWith("(document 0)", error.ToString());
    }

    [Fact]
    public void ValidateFile_UnknownKind_ListsKnownKinds()
    {
        var result = RuleValidator.ValidateFile("r.yaml", "apiVersion: x.io/v1\nkind: Mystery\nmetadata: { name: a }\nspec: {}\n", Kinds);

        var error = Assert.Single(result.Errors);
        Assert.Equal("kind", error.Path);
        Assert.Contains("unknown kind 'Mystery'; no plugin owns it", error.Message);
        Assert.Contains("FaultToleranceRule", error.Message);
        Assert.Contains("ProbeRule", error.Message);
        Assert.Contains("TrafficLabelRule", error.Message);
    }

    [Fact]
    public void ValidateFile_KindOfInactivePlugin_IsKeptAsideWithNoteNotError()
    {
        var result = RuleValidator.ValidateFile("r.yaml", "apiVersion: traffic.opensergo.io/v1alpha1\nkind: TrafficLabelRule\nmetadata: { name: a }\nspec: { whatever: 1 }\n", Kinds);

        Assert.Empty(result.Errors);
        Assert.Empty(result.Documents);
        Assert.Contains("plugin 'gray', which is not running", Assert.Single(result.Notes));
    }

    [Theory]
    [InlineData("apiVersion: test.governor.io/v2", "version 'v2' of ProbeRule is not supported; use one of: v1")]
    [InlineData("apiVersion: other.io/v1", "does not match kind ProbeRule; use test.governor.io/v1")]
    public void ValidateFile_WrongApiVersion_SaysWhichToUse(string apiVersion, string message)
    {
        var result = RuleValidator.ValidateFile("r.yaml", $"{apiVersion}\nkind: ProbeRule\nmetadata: {{ name: a }}\nspec: {{ threshold: 1 }}\n", Kinds);

        var error = Assert.Single(result.Errors);
        Assert.Equal("apiVersion", error.Path);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void ValidateFile_SyntaxError_ReportsLine()
    {
        var result = RuleValidator.ValidateFile("r.yaml", "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata:\n  name: [a\nspec: {}\n", Kinds);

        var error = Assert.Single(result.Errors);
        Assert.Contains("syntax error", error.Message);
        Assert.True(error.Line >= 4, error.ToString());
    }

    [Fact]
    public void ValidateFile_OneBadDocument_RejectsWholeFile()
    {
        var result = RuleValidator.ValidateFile("r.yaml", """
            apiVersion: test.governor.io/v1
            kind: ProbeRule
            metadata: { name: good }
            spec: { threshold: 1 }
            ---
            apiVersion: test.governor.io/v1
            kind: ProbeRule
            metadata: { name: bad }
            spec: { threshold: 0 }
            """, Kinds);

        Assert.Empty(result.Documents);
        Assert.Equal(1, Assert.Single(result.Errors).DocumentIndex);
    }

    [Fact]
    public void ValidateFile_MissingMetadataAndSpec_ReportsBoth()
    {
        var result = RuleValidator.ValidateFile("r.yaml", "apiVersion: test.governor.io/v1\nkind: ProbeRule\n", Kinds);

        Assert.Contains(result.Errors, e => e.Path == "metadata" && e.Message.Contains("is required"));
        Assert.Contains(result.Errors, e => e.Path == "spec" && e.Message.Contains("is required"));
    }

    [Fact]
    public void ValidateFile_DuplicateKey_IsAnError()
    {
        var result = RuleValidator.ValidateFile("r.yaml", "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata: { name: a }\nspec:\n  threshold: 1\n  threshold: 2\n", Kinds);

        Assert.Contains(result.Errors, e => e.Message.Contains("duplicate key 'threshold'"));
    }

    [Fact]
    public void FaultToleranceRule_FallbackAsObjectAndStrategyKind_AreRead()
    {
        var result = RuleValidator.ValidateFile("r.yaml", """
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: FaultToleranceRule
            metadata: { name: r }
            spec:
              targets: [ { targetResourceName: 'GET:/fooa' } ]
              strategies: [ { name: rate-limit-foo, kind: RateLimitStrategy } ]
              fallbackAction: { name: fb, kind: HttpRequestFallbackAction }
            """, Kinds);

        Assert.Empty(result.Errors);
        var spec = Assert.IsType<FaultToleranceRuleSpec>(Assert.Single(result.Documents).Spec);
        Assert.Null(spec.SelectorApp);
        Assert.True(spec.AppliesTo("anything"));
        Assert.Equal("RateLimitStrategy", spec.Strategies[0].Kind);
        Assert.Equal(new StrategyRef("fb", "HttpRequestFallbackAction"), spec.FallbackAction);
    }

    [Fact]
    public void FaultToleranceRule_NoTargets_IsAnError()
    {
        var result = RuleValidator.ValidateFile("r.yaml", "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: FaultToleranceRule\nmetadata: { name: r }\nspec:\n  targets: []\n  strategies: [ { name: s } ]\n", Kinds);

        var error = Assert.Single(result.Errors);
        Assert.Equal("spec.targets", error.Path);
        Assert.Contains("at least 1", error.Message);
    }
}
