using System.Runtime.CompilerServices;
using Governor.Interception;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// Feeds the <c>inbound</c> pipeline and the host lifecycle from ASP.NET Core without any change
/// to the app: its manifest names the bootstrap assembly as a hosting startup, which the agent
/// announces in <c>ASPNETCORE_HOSTINGSTARTUPASSEMBLIES</c> before the app's Main and resolves into
/// the app's context; every web host the app builds then runs the bootstrap, which hands the
/// builder to <see cref="OnWebHostBuilder"/> (waiting for this plugin if it is still starting).
/// This type touches only BCL and contract types, so a console app (no ASP.NET Core in its TPA
/// list) is never affected: ASP.NET Core types are reached only when the bootstrap calls in,
/// which happens only in a web app.
/// </summary>
public sealed class AspNetCorePlugin : IGovernorPlugin
{
    internal const string PluginName = "aspnetcore";
    internal const string ConfigureKey = "Governor.AspNetCore.Configure";

    internal const string ProviderDetail = "ASP.NET Core middleware (hosting startup + IStartupFilter), outermost: HTTP/1.1, HTTP/2, gRPC; can answer (HTTP, gRPC trailers-only), before routing and in the route stage after routing (IInboundRouteHandler); route template known in the route stage and at completion; RequestAborted";

    private IPluginContext? _context;

    /// <summary>State shared with the middleware and the host wiring; survives stop/start.</summary>
    internal InboundRuntime? Runtime { get; private set; }

    public void Start(IPluginContext context)
    {
        _context = context;
        Runtime ??= new InboundRuntime(context.Interception, context.Logger);
        Runtime.Activate(context.Logger);
        AppContext.SetData(ConfigureKey, (Action<object>)OnWebHostBuilder);
        context.Interception.Inbound.SetProvider(PluginName, ProviderDetail);
        context.SetDetail(Runtime.HostsSeen == 0 ? "no web host seen" : Runtime.Detail);
    }

    public void Stop()
    {
        Runtime?.Deactivate();

        // Hosts built from now on find nothing to attach and are left untouched.
        AppContext.SetData(ConfigureKey, null);
        if (_context is not null && _context.Interception.Inbound.Provider == PluginName)
        {
            _context.Interception.Inbound.SetProvider(null);
        }
    }

    // Called by the bootstrap with an IWebHostBuilder, typed object so that this type stays BCL-only.
    private void OnWebHostBuilder(object builder)
    {
        var runtime = Runtime;
        if (runtime is null || !runtime.IsActive)
        {
            return;
        }

        try
        {
            ConfigureHost(runtime, builder);
        }
        catch (Exception ex)
        {
            _context?.Logger.Error(ex, "Attaching to the web host failed; the app runs without inbound interception");
        }
    }

    // Kept out of OnWebHostBuilder so that its ASP.NET Core types are only resolved once a web host calls in.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ConfigureHost(InboundRuntime runtime, object builder) => WebHostWiring.Configure(runtime, builder, detail => _context?.SetDetail(detail));
}
