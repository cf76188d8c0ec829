using Governor.Core.Plugins;
using Governor.Testing;
using Xunit;

namespace Governor.Core.Tests.Plugins;

public sealed class PluginManifestTests
{
    [Fact]
    public void TryRead_CompleteManifest_ReadsEveryField()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("plugin.json", """
            { "name": "throttle", "version": "1.2.3", "order": 100, "assembly": "T.dll", "entryType": "N.T",
              "description": "d", "interceptionPoints": ["inbound", "outbound"], "enabledByDefault": false,
              "startTimeout": "2s", "ruleKinds": ["RateLimitStrategy"], "hostingStartupAssembly": "T.Bootstrap" }
            """);

        var m = PluginManifest.TryRead(path, out string? error);

        Assert.Null(error);
        Assert.NotNull(m);
        Assert.Equal(("throttle", "1.2.3", 100, "T.dll", "N.T"), (m!.Name, m.Version, m.Order, m.Assembly, m.EntryType));
        Assert.Equal(new[] { "inbound", "outbound" }, m.InterceptionPoints);
        Assert.False(m.EnabledByDefault);
        Assert.Equal(TimeSpan.FromSeconds(2), m.StartTimeout);
        Assert.Equal(new[] { "RateLimitStrategy" }, m.RuleKinds);
        Assert.Equal("T.Bootstrap", m.HostingStartupAssembly);
    }

    [Theory]
    [InlineData("""{ "name": "x", "assembly": "a.dll" }""", "'name', 'assembly' and 'entryType' are required")]
    [InlineData("""{ "name": "X_Y", "assembly": "a.dll", "entryType": "T" }""", "lowercase letters")]
    [InlineData("""{ "name": "x", "assembly": "a.dll", "entryType": "T", "colour": 1 }""", "unknown field 'colour'")]
    [InlineData("""{ "name": "x", "assembly": "a.dll", "entryType": "T", "interceptionPoints": ["db"] }""", "interceptionPoints has 'db'")]
    [InlineData("""{ "name": "x", "assembly": "a.dll", "entryType": "T", "startTimeout": "soon" }""", "startTimeout 'soon'")]
    [InlineData("""{ "name": "x", "assembly": "a.dll", "entryType": "T", "hostingStartupAssembly": "My.Bootstrap.dll" }""", "hostingStartupAssembly 'My.Bootstrap.dll' must be a simple assembly name without '.dll'")]
    [InlineData("""[1]""", "must be a JSON object")]
    [InlineData("""{ "name": """, "cannot be read")]
    public void TryRead_BadManifest_ReturnsNullWithMessageNamingFileAndProblem(string json, string expected)
    {
        using var dir = new TempDirectory();
        string path = dir.Write("plugin.json", json);

        var m = PluginManifest.TryRead(path, out string? error);

        Assert.Null(m);
        Assert.NotNull(error);
        Assert.Contains(path, error);
        Assert.Contains(expected, error);
    }
}
