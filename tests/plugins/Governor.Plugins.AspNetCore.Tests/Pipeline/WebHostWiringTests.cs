using Governor.Interception;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Governor.Plugins.AspNetCore.Tests.Pipeline;

public sealed class WebHostWiringTests
{
    private readonly InterceptionHub _hub = new();
    private readonly ListLogger _log = new();

    [Fact]
    public void TrackMinimumShutdownTimeout_SetBeforeTheHostIsBuilt_Applied()
    {
        var runtime = Active();
        _hub.Host.MinimumShutdownTimeout = TimeSpan.FromSeconds(26);
        var options = new HostOptions { ShutdownTimeout = TimeSpan.FromSeconds(30) };

        WebHostWiring.TrackMinimumShutdownTimeout(runtime, options);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ShutdownTimeout);

        _hub.Host.MinimumShutdownTimeout = TimeSpan.FromSeconds(45);
        Assert.Equal(TimeSpan.FromSeconds(45), options.ShutdownTimeout);
    }

    [Fact]
    public void TrackMinimumShutdownTimeout_PluginSetsItAfterTheHostWasBuilt_TheHostsOptionsAreRaised()
    {
        // The governance plugin that needs it (lossless) starts alongside the app and may come
        // after the host read its options; the host reads this same object when it stops.
        var runtime = Active();
        var options = new HostOptions { ShutdownTimeout = TimeSpan.FromSeconds(5) };
        WebHostWiring.TrackMinimumShutdownTimeout(runtime, options);

        _hub.Host.MinimumShutdownTimeout = TimeSpan.FromSeconds(26);

        Assert.Equal(TimeSpan.FromSeconds(26), options.ShutdownTimeout);
    }

    private InboundRuntime Active()
    {
        var runtime = new InboundRuntime(_hub, _log);
        runtime.Activate(_log);
        return runtime;
    }
}
