using Xunit;

namespace Governor.Patching.Tests;

/// <summary>In-process checks; the JIT hook is never installed here. The environment is process state, hence the collection.</summary>
[Collection(ProcessCollection.Name)]
public sealed class BootstrapTests
{
    [Fact]
    public void TryInitialize_Disabled_ReturnsNullWithReason()
    {
        var messages = new List<string>();
        var engine = PatchEngineBootstrap.TryInitialize(new PatchEngineOptions { Enabled = false }, (_, m) => messages.Add(m), out var reason);
        Assert.Null(engine);
        Assert.Equal("patching is turned off (GOVERNOR_PATCHING=off)", reason);
    }

    [Theory]
    [InlineData("off", false)]
    [InlineData("OFF", false)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData("on", true)]
    [InlineData(null, true)]
    public void FromEnvironment_GovernorPatchingValue_SetsEnabled(string? value, bool enabled)
    {
        var previous = Environment.GetEnvironmentVariable(PatchEngineOptions.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(PatchEngineOptions.EnvironmentVariable, value);
            Assert.Equal(enabled, PatchEngineOptions.FromEnvironment().Enabled);
        }
        finally
        {
            Environment.SetEnvironmentVariable(PatchEngineOptions.EnvironmentVariable, previous);
        }
    }
}
