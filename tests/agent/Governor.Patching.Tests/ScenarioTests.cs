using Xunit;

namespace Governor.Patching.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "patching processes";
}

/// <summary>
/// Each test runs one scenario of Governor.Patching.TestApp in a real process on .NET 8 and .NET
/// 10: at least 100,000 calls across tier-up, all of which the patch must see.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class ScenarioTests
{
    public static TheoryData<string> Frameworks => new() { "net8.0", "net10.0" };

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_IlOnlyLibraryMethodAcrossTierUp_InterceptsEveryCall(string framework) => AssertScenario(framework, "sqlite");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_ReadyToRunFrameworkMethodWithExcludeList_InterceptsEveryCallFromTheFirst(string framework) =>
        AssertScenario(framework, "r2r", new Dictionary<string, string> { ["DOTNET_ReadyToRunExcludeList"] = "System.Data.Common" });

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_MethodWithHotLoop_InterceptsEveryCallAndSurvivesOsr(string framework) => AssertScenario(framework, "osr");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_AsyncMethod_PostfixAndFinalizerSeeCompletion(string framework) => AssertScenario(framework, "async");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void PatchOverrides_DerivedTypeLoadedLater_InterceptsEveryCall(string framework) => AssertScenario(framework, "virtual");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_WhileEightThreadsCall_LosesNoCallAndCorruptsNothing(string framework) => AssertScenario(framework, "threads");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_HarmonySemantics_SkipReplaceSwallowAndOrderHold(string framework) => AssertScenario(framework, "semantics");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_PatchMethodInCustomLoadContext_InterceptsEveryCall(string framework) => AssertScenario(framework, "alc");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_GenericCodeSharedByReferenceTypes_InterceptsEachInstantiationExactly(string framework) => AssertScenario(framework, "generic");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void X64Matchers_RealStubsAndPrologs_AgreeWithIced(string framework) => AssertScenario(framework, "decoders");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void Patch_VirtualMethodThenDerivedTypesLoad_InterceptsEveryBaseCallAndSurvives(string framework) => AssertScenario(framework, "derived");

    [Theory]
    [MemberData(nameof(Frameworks))]
    public void JitHook_RuntimeThrowsInsideCompilation_AppCatchesTheExceptionAndSurvives(string framework) => AssertScenario(framework, "jitfailure");

    [Fact]
    public void TryInitialize_GovernorPatchingOffInProcess_ReportsUnavailable()
    {
        var (exitCode, output) = TestApp.Run("net10.0", "semantics", new Dictionary<string, string> { ["GOVERNOR_PATCHING"] = "off" });
        Assert.Equal(1, exitCode);
        Assert.Contains("unavailable: patching is turned off (GOVERNOR_PATCHING=off)", output, StringComparison.Ordinal);
    }

    private static void AssertScenario(string framework, string scenario, IDictionary<string, string>? environment = null)
    {
        var (exitCode, output) = TestApp.Run(framework, scenario, environment);
        var results = output.Split('\n').Where(l => l.StartsWith("RESULT ", StringComparison.Ordinal)).ToList();
        Assert.True(results.Count > 0, $"no RESULT line:\n{output}");
        Assert.All(results, line => Assert.Contains(" ok=True ", line + " ", StringComparison.Ordinal));
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
    }
}
