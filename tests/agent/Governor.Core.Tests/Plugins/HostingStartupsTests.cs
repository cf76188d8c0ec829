using Governor.Core.Plugins;
using Xunit;

namespace Governor.Core.Tests.Plugins;

public sealed class HostingStartupsTests
{
    [Theory]
    [InlineData(null, "Governor.AspNetCore.Bootstrap")]
    [InlineData("", "Governor.AspNetCore.Bootstrap")]
    [InlineData("Vendor.Startup", "Vendor.Startup;Governor.AspNetCore.Bootstrap")]
    [InlineData("A;B;", "A;B;Governor.AspNetCore.Bootstrap")]
    [InlineData("A;governor.aspnetcore.bootstrap", "A;governor.aspnetcore.bootstrap")]
    public void AppendAssembly_ExistingHostingStartups_KeptAndBootstrapAddedOnce(string? existing, string expected)
    {
        Assert.Equal(expected, HostingStartups.AppendAssembly(existing, "Governor.AspNetCore.Bootstrap"));
    }
}
