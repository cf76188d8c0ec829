using Governor.Testing;
using Xunit;

namespace Governor.Cli.Tests;

/// <summary><c>governor rules validate</c>: the agent's validator offline, with the home's plugin kinds.</summary>
public sealed class RulesValidateTests : IDisposable
{
    private const string Probe = "apiVersion: test.governor.io/v1\nkind: ProbeRule\nmetadata:\n  name: p\nspec:\n";
    private const string FaultTolerance = "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: FaultToleranceRule\nmetadata:\n  name: f\nspec:\n";

    private readonly AgentHomeCopy _home = new(includeBuiltInPlugins: false);
    private readonly TempDirectory _rules = new("governor-rules");

    public RulesValidateTests()
    {
        // Disabled by default: its kinds are still checked offline.
        _home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin", ruleKinds: new[] { "ProbeRule" }, enabledByDefault: false);
    }

    public void Dispose()
    {
        _home.Dispose();
        _rules.Dispose();
    }

    [Theory]
    [InlineData("syntax", FaultTolerance + "  targets: [ {targetResourceName: a ]\n", "syntax.yaml:6: syntax error: ")]
    [InlineData("unknown-kind", "apiVersion: x.io/v1\nkind: NoSuchRule\nmetadata:\n  name: q\nspec: {}\n", "unknown-kind.yaml:2: kind: unknown kind 'NoSuchRule'; no plugin owns it. Known kinds: FaultToleranceRule, ProbeRule (document 0)")]
    [InlineData("unknown-field", FaultTolerance + "  targets:\n    - targetResourceName: a\n  strategies:\n    - name: s\n  colour: red\n", "unknown-field.yaml:10: spec.colour: unknown field 'colour'")]
    [InlineData("wrong-type", Probe + "  threshold: many\n", "wrong-type.yaml:6: spec.threshold: must be a whole number, found 'many' (document 0)")]
    [InlineData("out-of-range", Probe + "  threshold: 0\n", "out-of-range.yaml:6: spec.threshold: 0 is out of range; use 1 to 1000 (document 0)")]
    [InlineData("plugin-kind", Probe + "  threshold: 3\n  mode: turbo\n", "plugin-kind.yaml:7: spec.mode: 'turbo' is not accepted; use one of: fast, slow (document 0)")]
    [InlineData("second-document", Probe + "  threshold: 3\n---\n" + Probe + "  threshold: 2000\n", "second-document.yaml:13: spec.threshold: 2000 is out of range; use 1 to 1000 (document 1)")]
    public void RulesValidate_EachKindOfError_ReportedAsFileLineFieldProblemAndExitCode1(string name, string content, string expected)
    {
        _rules.Write("good.yaml", Probe + "  threshold: 5\n");
        string file = _rules.Write($"{name}.yaml", content);

        var result = CliRunner.Run("rules", "validate", _rules.Path, "--home", _home.Home);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(Path.Combine(_rules.Path, expected), result.Stdout);
        Assert.DoesNotContain("good.yaml", result.Stdout);
        Assert.Contains("error(s) in 1 of 2 file(s)", result.Stderr);

        // One file alone gives the same answer.
        var single = CliRunner.Run("rules", "validate", file, "--home", _home.Home);
        Assert.True(single.ExitCode == 1, single.ToString());
        Assert.Contains(Path.Combine(_rules.Path, expected), single.Stdout);
    }

    [Fact]
    public void RulesValidate_ValidCoreAndPluginRules_Exits0AndNamesTheKnownKinds()
    {
        _rules.Write("probe.yaml", Probe + "  threshold: 5\n  mode: slow\n");
        _rules.Write("ft.json", """{ "apiVersion": "fault-tolerance.opensergo.io/v1alpha1", "kind": "FaultToleranceRule", "metadata": { "name": "f" }, "spec": { "targets": [ { "targetResourceName": "GET /" } ], "strategies": [ { "name": "s" } ] } }""");
        _rules.Write(".hidden.yaml", "not: [valid");

        var result = CliRunner.Run("rules", "validate", _rules.Path, "--home", _home.Home);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(string.Empty, result.Stdout);
        Assert.Contains("2 file(s), 2 document(s): valid. Kinds known: FaultToleranceRule (core), ProbeRule (probe).", result.Stderr);
    }

    [Fact]
    public void RulesValidate_SameNameInTwoFiles_ReportedLikeTheAgentDoes()
    {
        _rules.Write("a.yaml", Probe + "  threshold: 5\n");
        _rules.Write("b.yaml", Probe + "  threshold: 6\n");

        var result = CliRunner.Run("rules", "validate", _rules.Path, "--home", _home.Home);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("b.yaml:1: metadata.name: a ProbeRule named 'p' is already defined in a.yaml (document 0)", result.Stdout);
    }

    [Fact]
    public void RulesValidate_NoAgentHome_WarnsAndKnowsOnlyCoreKinds()
    {
        string file = _rules.Write("probe.yaml", Probe + "  threshold: 5\n");

        var result = CliRunner.Run("rules", "validate", file);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("governor: warning: no agent home found", result.Stderr);
        Assert.Contains("probe.yaml:2: kind: unknown kind 'ProbeRule'; no plugin owns it. Known kinds: FaultToleranceRule (document 0)", result.Stdout);
    }

    [Theory]
    [InlineData(new[] { "rules", "validate", "/no/such/rules" }, "'/no/such/rules' does not exist.")]
    [InlineData(new[] { "rules", "validate" }, "Required argument missing for command: 'validate'")]
    [InlineData(new[] { "rules" }, "'rules' needs a subcommand: governor rules validate <dir|file>.")]
    public void RulesValidate_BadArguments_UsageError2(string[] args, string message)
    {
        var result = CliRunner.Run(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Stderr);
    }
}
