using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using Governor.Interception;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// Feeds the <c>inbound</c> pipeline and the host lifecycle from ASP.NET Core without any change
/// to the app: on start it appends its bootstrap assembly to
/// <c>ASPNETCORE_HOSTINGSTARTUPASSEMBLIES</c> and teaches the default AssemblyLoadContext where
/// to find it; every web host the app builds then runs the bootstrap, which hands the builder to
/// <see cref="OnWebHostBuilder"/>. This type touches only BCL and contract types, so a console app
/// (no ASP.NET Core in its TPA list) is never affected: ASP.NET Core types are reached only when
/// the bootstrap calls in, which happens only in a web app.
/// </summary>
public sealed class AspNetCorePlugin : IGovernorPlugin
{
    internal const string PluginName = "aspnetcore";
    internal const string BootstrapAssemblyName = "Governor.AspNetCore.Bootstrap";
    internal const string ConfigureKey = "Governor.AspNetCore.Configure";
    internal const string HostingStartupVariable = "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES";

    internal const string ProviderDetail = "ASP.NET Core middleware (hosting startup + IStartupFilter), outermost: HTTP/1.1, HTTP/2, gRPC; can answer (HTTP, gRPC trailers-only), before routing and in the route stage after routing (IInboundRouteHandler); route template known in the route stage and at completion; RequestAborted";

    private IPluginContext? _context;
    private string? _bootstrapPath;
    private string? _previousVariable;
    private bool _variableSet;

    /// <summary>State shared with the middleware and the host wiring; survives stop/start.</summary>
    internal InboundRuntime? Runtime { get; private set; }

    public void Start(IPluginContext context)
    {
        _context = context;
        string directory = Path.GetDirectoryName(typeof(AspNetCorePlugin).Assembly.Location) ?? ".";
        _bootstrapPath = Path.Combine(directory, BootstrapAssemblyName + ".dll");
        if (!File.Exists(_bootstrapPath))
        {
            throw new FileNotFoundException($"the bootstrap assembly {BootstrapAssemblyName}.dll is missing from {directory}; reinstall the plugin");
        }

        Runtime ??= new InboundRuntime(context.Interception, context.Logger);
        Runtime.Activate(context.Logger);

        AssemblyLoadContext.Default.Resolving += ResolveBootstrap;
        AppContext.SetData(ConfigureKey, (Action<object>)OnWebHostBuilder);
        _previousVariable = Environment.GetEnvironmentVariable(HostingStartupVariable);
        Environment.SetEnvironmentVariable(HostingStartupVariable, AppendAssembly(_previousVariable, BootstrapAssemblyName));
        _variableSet = true;

        context.Interception.Inbound.SetProvider(PluginName, ProviderDetail);
        context.SetDetail(Runtime.HostsSeen == 0 ? "no web host seen" : Runtime.Detail);
    }

    public void Stop()
    {
        Runtime?.Deactivate();
        AppContext.SetData(ConfigureKey, null);
        AssemblyLoadContext.Default.Resolving -= ResolveBootstrap;
        if (_variableSet)
        {
            // Hosts built from now on must not look for an assembly nobody resolves any more.
            Environment.SetEnvironmentVariable(HostingStartupVariable, _previousVariable);
            _variableSet = false;
        }

        if (_context is not null && _context.Interception.Inbound.Provider == PluginName)
        {
            _context.Interception.Inbound.SetProvider(null);
        }
    }

    /// <summary>Appends <paramref name="assembly"/> to a ';'-separated list unless it is already there.</summary>
    internal static string AppendAssembly(string? existing, string assembly)
    {
        if (string.IsNullOrWhiteSpace(existing))
        {
            return assembly;
        }

        foreach (string part in existing.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (string.Equals(part, assembly, StringComparison.OrdinalIgnoreCase))
            {
                return existing;
            }
        }

        return existing.TrimEnd().TrimEnd(';') + ";" + assembly;
    }

    private Assembly? ResolveBootstrap(AssemblyLoadContext context, AssemblyName name)
    {
        if (!string.Equals(name.Name, BootstrapAssemblyName, StringComparison.OrdinalIgnoreCase) || _bootstrapPath is null)
        {
            return null;
        }

        // ASP.NET Core loads hosting startups with Assembly.Load from its own (default) context;
        // the bootstrap must live there, so it is loaded there, from the plugin folder.
        return context.LoadFromAssemblyPath(_bootstrapPath);
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
