using Governor.Plugins.SqlGuard.Templates;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Templates;

public sealed class TemplateRegistryTests
{
    [Fact]
    public void Resolve_SameTextObjectRepeated_NormalizesOnce()
    {
        var registry = new TemplateRegistry(100, 100, 8192);
        var call = new FakeSqlCall("SELECT * FROM orders WHERE id = @id");

        var first = registry.Resolve(call);
        for (int i = 0; i < 1000; i++)
        {
            Assert.Same(first, registry.Resolve(call));
        }

        Assert.Equal(1, registry.Normalizations);
        Assert.Equal("SELECT * FROM orders WHERE id = @id", first!.Template);
    }

    [Fact]
    public void Resolve_EqualTextInNewStringObjects_NormalizesOnce()
    {
        var registry = new TemplateRegistry(100, 100, 8192);

        for (int i = 0; i < 100; i++)
        {
            // A new string object each time, as string building in an app produces.
            string text = string.Concat("SELECT * FROM orders WHERE id = ", "@id");
            Assert.Equal("SELECT * FROM orders WHERE id = @id", registry.Resolve(new FakeSqlCall(text))!.Template);
        }

        Assert.Equal(1, registry.Normalizations);
    }

    [Fact]
    public void Resolve_DifferentLiterals_ShareOneTemplateState()
    {
        var registry = new TemplateRegistry(100, 100, 8192);

        var a = registry.Resolve(new FakeSqlCall("SELECT * FROM orders WHERE id = 1 AND s IN ('a','b')"));
        var b = registry.Resolve(new FakeSqlCall("SELECT * FROM orders WHERE id = 2 AND s IN ('c')"));

        Assert.Same(a, b);
        Assert.Equal("sql@shop:SELECT * FROM orders WHERE id = ? AND s IN (?)", a!.Resource);
    }

    [Fact]
    public void Resolve_SameTextOnTwoDatabases_TwoTemplates()
    {
        var registry = new TemplateRegistry(100, 100, 8192);
        string text = "SELECT 1";

        var shop = registry.Resolve(new FakeSqlCall(text, database: "shop"));
        var billing = registry.Resolve(new FakeSqlCall(text, database: "billing"));

        Assert.NotSame(shop, billing);
        Assert.Equal("billing", billing!.Database);
        Assert.Same(shop, registry.Resolve(new FakeSqlCall(text, database: "shop")));
    }

    [Theory]
    [InlineData("Microsoft.Data.Sqlite", "main", "/var/data/shop.db", "shop.db")]
    [InlineData("Microsoft.Data.Sqlite", "main", ":memory:", ":memory:")]
    [InlineData("Npgsql", "orders", "tcp://db:5432", "orders")]
    [InlineData("Npgsql", null, "tcp://db:5432", "tcp://db:5432")]
    [InlineData("Npgsql", null, null, "")]
    public void DatabaseLabel_ProviderDatabaseAndSource_NamesTheDatabase(string provider, string? database, string? dataSource, string expected)
    {
        Assert.Equal(expected, TemplateRegistry.DatabaseLabel(SqlDialects.FromProvider(provider), database, dataSource));
    }

    [Fact]
    public void Resolve_EmptyCommandText_ReturnsNull()
    {
        var registry = new TemplateRegistry(100, 100, 8192);

        Assert.Null(registry.Resolve(new FakeSqlCall(string.Empty)));
        Assert.Equal(0, registry.TemplateCount);
    }

    [Fact]
    public void Resolve_100000DistinctTemplates_StaysWithinBounds()
    {
        const int maxTemplates = 1000;
        const int maxTexts = 2000;
        var registry = new TemplateRegistry(maxTemplates, maxTexts, 8192);
        int peakTemplates = 0;
        int peakTexts = 0;

        for (int i = 0; i < 100_000; i++)
        {
            var state = registry.Resolve(new FakeSqlCall($"SELECT * FROM t{i} WHERE id = {i}"));
            Assert.Equal($"SELECT * FROM t{i} WHERE id = ?", state!.Template);
            peakTemplates = Math.Max(peakTemplates, registry.TemplateCount);
            peakTexts = Math.Max(peakTexts, registry.CachedTextCount);
        }

        Assert.True(peakTemplates <= maxTemplates, $"{peakTemplates} templates tracked, bound {maxTemplates}");
        Assert.True(peakTexts <= maxTexts, $"{peakTexts} texts cached, bound {maxTexts}");
        Assert.True(registry.TemplateEvictions >= 99_000, $"only {registry.TemplateEvictions} evictions");
        Assert.True(registry.Templates().Count <= maxTemplates);
    }

    [Fact]
    public void Resolve_ManyNewTemplates_KeepsTheRecentlyUsedOne()
    {
        var registry = new TemplateRegistry(10, 10, 8192);
        var hotCall = new FakeSqlCall("SELECT * FROM hot WHERE id = @id");
        var hot = registry.Resolve(hotCall);

        for (int i = 0; i < 1000; i++)
        {
            _ = registry.Resolve(new FakeSqlCall($"SELECT * FROM cold{i}"));
            Assert.Same(hot, registry.Resolve(hotCall));
        }

        Assert.False(hot!.Evicted);
        Assert.True(registry.TemplateCount <= 10);
    }

    [Fact]
    public void Resolve_EvictedTemplateStillInIdentityCache_GetsAFreshState()
    {
        var registry = new TemplateRegistry(10, 10, 8192);
        var call = new FakeSqlCall("SELECT * FROM victim");
        var old = registry.Resolve(call);

        for (int i = 0; i < 100; i++)
        {
            _ = registry.Resolve(new FakeSqlCall($"SELECT * FROM other{i}"));
        }

        var fresh = registry.Resolve(call);

        Assert.True(old!.Evicted);
        Assert.NotSame(old, fresh);
        Assert.False(fresh!.Evicted);
        Assert.Contains(fresh, registry.Templates());
    }

    [Fact]
    public void Resolve_TextLongerThanCacheable_ResolvedButNotCached()
    {
        var registry = new TemplateRegistry(100, 100, maxCachedTextLength: 64);
        string text = "SELECT * FROM orders WHERE note = '" + new string('x', 500) + "'";

        var a = registry.Resolve(new FakeSqlCall(text));
        var b = registry.Resolve(new FakeSqlCall(text));

        Assert.Same(a, b);
        Assert.Equal("SELECT * FROM orders WHERE note = ?", a!.Template);
        Assert.Equal(0, registry.CachedTextCount);
        Assert.Equal(2, registry.Normalizations);
    }
}
