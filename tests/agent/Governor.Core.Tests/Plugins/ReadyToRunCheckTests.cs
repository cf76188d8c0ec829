using Governor.Core.Plugins;
using Governor.Testing;
using Xunit;

namespace Governor.Core.Tests.Plugins;

public sealed class ReadyToRunCheckTests
{
    [Fact]
    public void TryRead_ReadyToRunFields_AreRead()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("plugin.json", """
            { "name": "httpclient", "assembly": "H.dll", "entryType": "N.H",
              "readyToRunExclude": ["System.Net.Http"], "readyToRunDegraded": "no answers" }
            """);

        var m = PluginManifest.TryRead(path, out string? error);

        Assert.Null(error);
        Assert.Equal(new[] { "System.Net.Http" }, m!.ReadyToRunExclude);
        Assert.Equal("no answers", m.ReadyToRunDegraded);
    }

    [Fact]
    public void TryRead_ReadyToRunListWithSeparators_IsRejectedNamingTheName()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("plugin.json", """{ "name": "x", "assembly": "a.dll", "entryType": "T", "readyToRunExclude": ["A;B"] }""");

        Assert.Null(PluginManifest.TryRead(path, out string? error));
        Assert.Contains("readyToRunExclude has 'A;B'", error);
    }

    [Fact]
    public void Warning_AssemblyMissingFromVariable_NamesVariableFullValuePluginAndWhatIsDegraded()
    {
        var plugins = new[] { Manifest("httpclient", "System.Net.Http", "no answers"), Manifest("adonet", null, null) };

        string? warning = ReadyToRunCheck.Warning(plugins, "System.Data.Common");

        Assert.NotNull(warning);
        Assert.Contains("DOTNET_ReadyToRunExcludeList=System.Data.Common;System.Net.Http", warning);
        Assert.Contains("httpclient: no answers", warning);
        Assert.DoesNotContain("adonet", warning);
    }

    [Theory]
    [InlineData("System.Net.Http")]
    [InlineData("System.Data.Common;System.Net.Http")]
    [InlineData("System.Data.Common System.Net.Http")]
    [InlineData("system.net.http")]
    public void Warning_AssemblyListed_IsNull(string value) =>
        Assert.Null(ReadyToRunCheck.Warning(new[] { Manifest("httpclient", "System.Net.Http", "x") }, value));

    [Fact]
    public void Warning_CommaSeparatedList_StillWarnsBecauseTheRuntimeDoesNotSplitOnCommas() =>
        Assert.NotNull(ReadyToRunCheck.Warning(new[] { Manifest("httpclient", "System.Net.Http", "x") }, "System.Data.Common,System.Net.Http"));

    private static PluginManifest Manifest(string name, string? assembly, string? degraded) =>
        new(name, "1", 0, "a.dll", "T", string.Empty, Array.Empty<string>(), true, null, Array.Empty<string>())
        {
            ReadyToRunExclude = assembly is null ? Array.Empty<string>() : new[] { assembly },
            ReadyToRunDegraded = degraded,
        };
}
