using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class SettingsAndAddressTests
{
    [Fact]
    public void Defaults_FitTheInjectorsGraceCheckAndKubernetesDefaultGrace()
    {
        var options = new LosslessOptions();

        Assert.Equal(15020, options.ProbePort);
        Assert.Equal("/governor/ready", options.ReadinessPath);
        Assert.Equal("/governor/live", options.LivenessPath);
        Assert.Equal(TimeSpan.FromSeconds(5), options.DrainDelay);
        Assert.Equal(TimeSpan.FromSeconds(20), options.ShutdownTimeout);
        Assert.Equal(TimeSpan.FromSeconds(27), options.RequiredGrace);
        Assert.True(options.RequiredGrace <= LosslessOptions.KubernetesDefaultGrace);
        Assert.Equal(TimeSpan.FromSeconds(26), options.MinimumHostShutdown);
        Assert.Equal(TimeSpan.FromSeconds(120), options.WarmupTime);
    }

    [Theory]
    [InlineData(null, 15020, false)]
    [InlineData("15021", 15021, false)]
    [InlineData("0", 0, false)]
    [InlineData("70000", 15020, true)]
    [InlineData("http", 15020, true)]
    public void ReadPort_AnyText_PortOrDefaultWithAWarning(string? text, int expected, bool warns)
    {
        var warnings = new List<string>();

        Assert.Equal(expected, LosslessOptions.ReadPort(text, warnings.Add));
        Assert.Equal(warns, warnings.Count == 1);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [InlineData("http://0.0.0.0:5000", "http://127.0.0.1:5000/")]
    [InlineData("http://[::]:8080", "http://127.0.0.1:8080/")]
    [InlineData("http://+:80", "http://127.0.0.1/")]
    [InlineData("http://*:81", "http://127.0.0.1:81/")]
    [InlineData("http://localhost:5000", "http://127.0.0.1:5000/")]
    [InlineData("http://[::1]:5001", "http://[::1]:5001/")]
    [InlineData("https://0.0.0.0:5443", "https://127.0.0.1:5443/")]
    [InlineData("http://unix:/tmp/app.sock", null)]
    [InlineData("ftp://x:1", null)]
    public void Normalize_ServerAddress_LoopbackUriToCallItself(string address, string? expected)
    {
        Assert.Equal(expected, SelfWarmup.Normalize(address)?.ToString());
    }

    [Fact]
    public void BaseAddress_HttpAndHttps_PrefersHttp()
    {
        Assert.Equal("http://127.0.0.1:5000/", SelfWarmup.BaseAddress(new[] { "https://0.0.0.0:5001", "http://0.0.0.0:5000" })?.ToString());
        Assert.Equal("https://127.0.0.1:5001/", SelfWarmup.BaseAddress(new[] { "https://[::]:5001" })?.ToString());
        Assert.Null(SelfWarmup.BaseAddress(new[] { "http://unix:/tmp/s" }));
    }
}
