using Governor.Plugins.Throttle.Resources;
using Xunit;

namespace Governor.Plugins.Throttle.Tests;

public sealed class ResourceNameTests
{
    [Theory]
    [InlineData("/foo", "Path", "/foo", null, 0, null)]
    [InlineData("/foo/", "Path", "/foo", null, 0, null)]
    [InlineData("/", "Path", "/", null, 0, null)]
    [InlineData("GET:/foo", "Path", "/foo", "GET", 0, null)]
    [InlineData("post:/orders", "Path", "/orders", "POST", 0, null)]
    [InlineData("/greet.Greeter/SayHello", "Path", "/greet.Greeter/SayHello", null, 0, null)]
    [InlineData("/orders/{id}", "Route", "orders/{id}", null, 0, null)]
    [InlineData("DELETE:/orders/{id:int}/", "Route", "orders/{id:int}", "DELETE", 0, null)]
    [InlineData("api.example.com", "Host", "api.example.com", null, 0, null)]
    [InlineData("API.Example.com:8443", "Host", "api.example.com", null, 8443, null)]
    [InlineData("api.example.com/v1/orders/", "Host", "api.example.com", null, 0, "/v1/orders")]
    [InlineData("https://api.example.com:443/v1", "Host", "api.example.com", null, 443, "/v1")]
    [InlineData("[::1]:5000", "Host", "[::1]", null, 5000, null)]
    [InlineData("orders-service", "Host", "orders-service", null, 0, null)]
    public void TryParse_EveryForm_IsRecognised(string text, string form, string key, string? method, int port, string? path)
    {
        Assert.True(ResourceName.TryParse(text, out var name, out string? problem), problem);

        Assert.Equal(Enum.Parse<ResourceForm>(form), name!.Form);
        Assert.Equal(key, name.Key);
        Assert.Equal(method, name.Method);
        Assert.Equal(port, name.Port);
        Assert.Equal(path, name.Path);
        Assert.Equal(text, name.Text);
    }

    [Theory]
    [InlineData("", "is empty or contains white space")]
    [InlineData("select * from orders", "is empty or contains white space")]
    [InlineData("api.example.com:http", "has port 'http'")]
    [InlineData("api.example.com:70000", "has port '70000'")]
    [InlineData("[::1", "without its closing ']'")]
    [InlineData("db@orders", "is neither an inbound path")]
    public void TryParse_NotAResourceName_SaysWhy(string text, string problem)
    {
        Assert.False(ResourceName.TryParse(text, out _, out string? actual));

        Assert.Contains(problem, actual);
    }

    [Fact]
    public void Identity_SpellingsOfOneResource_AreEqual()
    {
        ResourceName.TryParse("/Foo/", out var a, out _);
        ResourceName.TryParse("/foo", out var b, out _);
        ResourceName.TryParse("GET:/foo", out var c, out _);

        Assert.Equal(a!.Identity, b!.Identity);
        Assert.NotEqual(b.Identity, c!.Identity);
    }

    [Fact]
    public void Find_SpanOfOtherCase_FindsTheKey()
    {
        var table = new ResourceTable<string>(Enumerable.Range(0, 100).Select(i => KeyValuePair.Create($"/api/items/{i}", $"v{i}")).ToList());

        Assert.Equal(100, table.Count);
        Assert.Equal("v42", table.Find("/API/Items/42".AsSpan()));
        Assert.Equal("v7", table.Find("xx/api/items/7".AsSpan(2)));
        Assert.Null(table.Find("/api/items/100".AsSpan()));
        Assert.Null(ResourceTable<string>.Empty.Find("/x".AsSpan()));
    }

    [Fact]
    public void Find_KeysLongerThan63_AreFoundAndOtherLengthsMiss()
    {
        string longKey = "/" + new string('a', 80);
        string longerKey = "/" + new string('a', 90);
        var table = new ResourceTable<string>(new[] { KeyValuePair.Create(longKey, "80"), KeyValuePair.Create(longerKey, "90"), KeyValuePair.Create("/ab", "2") });

        Assert.Equal("80", table.Find(longKey.ToUpperInvariant().AsSpan()));
        Assert.Equal("90", table.Find(longerKey.AsSpan()));
        Assert.Null(table.Find(("/" + new string('a', 85)).AsSpan()));
        Assert.Equal("2", table.Find("/AB".AsSpan()));
        Assert.Null(table.Find("/abc".AsSpan()));
        Assert.Null(table.Find("/a".AsSpan()));
    }

    [Theory]
    [InlineData("/café/menü", "/CAFÉ/MENÜ")]
    [InlineData("/straße", "/STRAßE")]
    [InlineData("/Ωmega", "/ωMEGA")]
    public void Find_NonAsciiKeyInOtherCase_IsFound(string key, string request)
    {
        var table = new ResourceTable<string>(new[] { KeyValuePair.Create(key, "hit"), KeyValuePair.Create("/plain", "plain") });

        Assert.Equal("hit", table.Find(request.AsSpan()));
        Assert.Null(table.Find("/cafe/menu".AsSpan()));
    }

    [Fact]
    public void Find_EveryAsciiCaseVariant_FindsTheKey()
    {
        var table = new ResourceTable<string>(new[] { KeyValuePair.Create("/Api/Orders-V2_x.y", "hit") });
        var random = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            var chars = "/api/orders-v2_X.Y".Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)).ToArray();
            Assert.Equal("hit", table.Find(chars));
        }

        Assert.Null(table.Find("/api/orders-v2_x:y".AsSpan()));
        Assert.Null(table.Find("/api/orders-v2_x.Z".AsSpan()));
    }

    [Fact]
    public void Constructor_DuplicateKeyOfOtherCase_Throws()
    {
        Assert.Throws<ArgumentException>(() => new ResourceTable<string>(new[] { KeyValuePair.Create("/a", "1"), KeyValuePair.Create("/A", "2") }));
    }
}
