using System.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Governor.Plugins.Lossless;

/// <summary>
/// Everything the plugin does with ASP.NET Core types, in one place. Called only once a web host
/// exists (its services came through <c>HostLifecycle.Started</c>, or a request came through the
/// inbound pipeline), and every method is kept from inlining, so that a console app never loads
/// an ASP.NET Core assembly because of Governor.
/// </summary>
internal static class WebHostAccess
{
    /// <summary>
    /// Stops the server the way the host would: Kestrel closes its listeners at once (new
    /// connections are refused), asks open connections to close after their current request
    /// (HTTP/1.1) or with GOAWAY (HTTP/2), and returns when they are all closed or when
    /// <paramref name="token"/> fires (then it aborts them). Kestrel's StopAsync is idempotent:
    /// the host's own call later returns at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Task? StopServerAsync(IServiceProvider services, CancellationToken token)
    {
        return services.GetService(typeof(IServer)) is IServer server ? server.StopAsync(token) : null;
    }

    /// <summary>
    /// True for a web host that does not handle SIGTERM itself: the old <c>WebHost</c> registers no
    /// <c>IHostLifetime</c> (the generic host's ConsoleLifetime, which handles the signal and runs
    /// the stop gates before Kestrel stops); it learns of SIGTERM only through ProcessExit.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool IsOldWebHost(IServiceProvider services) =>
        services.GetService(typeof(Microsoft.Extensions.Hosting.IHostLifetime)) is null;

    /// <summary>
    /// Asks the connection of an HTTP/2 (or HTTP/3) request to close gracefully: Kestrel sends
    /// GOAWAY, lets the open streams finish and the client opens its next stream elsewhere.
    /// HTTP/1.x uses the <c>Connection: close</c> response header instead.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void RequestConnectionClose(object nativeContext)
    {
        if (nativeContext is HttpContext context)
        {
            context.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
        }
    }

    /// <summary>
    /// Finds the app's request handlers through the endpoint data source (building the endpoints,
    /// which itself compiles the minimal-API request delegates) and JIT-compiles each handler
    /// method with <see cref="RuntimeHelpers.PrepareMethod(RuntimeMethodHandle)"/>: minimal-API
    /// delegates and lambdas, RequestDelegate endpoints, controller actions and their
    /// constructors, and the MoveNext of async handlers. Methods that cannot be prepared (open
    /// generics, dynamic methods) are skipped.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="token">Cancelled at the warm-up timeout or at stop.</param>
    /// <param name="busy">
    /// Whether requests are being served: precompiling then pauses between methods, so that it
    /// never competes with live requests for the CPU (the first requests reach an instance that
    /// is not ready yet when nothing routes by readiness, e.g. outside Kubernetes).
    /// </param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static PrecompileResult Precompile(IServiceProvider services, CancellationToken token, Func<bool>? busy = null)
    {
        var clock = Stopwatch.StartNew();
        if (services.GetService(typeof(EndpointDataSource)) is not EndpointDataSource source)
        {
            return new PrecompileResult(0, 0, 0, clock.Elapsed, "no endpoint data source (the app does not use routing)");
        }

        var methods = new HashSet<MethodBase>();
        IReadOnlyList<Endpoint> endpoints = source.Endpoints;
        foreach (var endpoint in endpoints)
        {
            Collect(endpoint, methods);
        }

        int prepared = 0;
        int skipped = 0;
        foreach (var method in methods)
        {
            while (busy?.Invoke() == true && !token.IsCancellationRequested)
            {
                Thread.Sleep(1);
            }

            token.ThrowIfCancellationRequested();
            if (TryPrepare(method))
            {
                prepared++;
            }
            else
            {
                skipped++;
            }

            if (AsyncBody(method) is { } moveNext)
            {
                if (TryPrepare(moveNext))
                {
                    prepared++;
                }
            }
        }

        return new PrecompileResult(endpoints.Count, prepared, skipped, clock.Elapsed, null);
    }

    /// <summary>The handler methods of one endpoint (exposed for tests).</summary>
    internal static void Collect(Endpoint endpoint, HashSet<MethodBase> methods)
    {
        bool fromMetadata = false;
        foreach (object item in endpoint.Metadata)
        {
            switch (item)
            {
                // Minimal APIs put the handler's MethodInfo in the metadata.
                case MethodInfo method:
                    methods.Add(method);
                    fromMetadata = true;
                    break;
                default:
                    // MVC's ControllerActionDescriptor, looked at by shape so that apps without MVC
                    // never load Microsoft.AspNetCore.Mvc.Core because of this.
                    if (ActionMethod(item) is { } action)
                    {
                        methods.Add(action.Method);
                        foreach (var ctor in action.Controller.GetConstructors())
                        {
                            methods.Add(ctor);
                        }

                        fromMetadata = true;
                    }

                    break;
            }
        }

        // A plain RequestDelegate endpoint (MapGet(path, RequestDelegate), MapPost with a
        // HttpContext handler): the delegate's own method, unless it is generated code.
        if (!fromMetadata && endpoint.RequestDelegate is { } handler && handler.Method is not DynamicMethod
            && handler.Method.DeclaringType is { } type && !IsFrameworkType(type))
        {
            methods.Add(handler.Method);
        }
    }

    private static (MethodInfo Method, Type Controller)? ActionMethod(object item)
    {
        var type = item.GetType();
        if (type.FullName != "Microsoft.AspNetCore.Mvc.Controllers.ControllerActionDescriptor")
        {
            return null;
        }

        var method = type.GetProperty("MethodInfo")?.GetValue(item) as MethodInfo;
        var controller = type.GetProperty("ControllerTypeInfo")?.GetValue(item) as Type;
        return method is null || controller is null ? null : (method, controller);
    }

    private static bool IsFrameworkType(Type type) => type.Assembly.GetName().Name is { } name
        && (name.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal) || name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal));

    private static MethodInfo? AsyncBody(MethodBase method)
    {
        var attribute = method.GetCustomAttribute<AsyncStateMachineAttribute>();
        return attribute?.StateMachineType is { ContainsGenericParameters: false } machine
            ? machine.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            : null;
    }

    private static bool TryPrepare(MethodBase method)
    {
        if (method is DynamicMethod || method.IsAbstract || method.ContainsGenericParameters
            || method.DeclaringType is { ContainsGenericParameters: true })
        {
            return false;
        }

        try
        {
            RuntimeHelpers.PrepareMethod(method.MethodHandle);
            return true;
        }
        catch (Exception)
        {
            // Some methods cannot be prepared (e.g. ones with a native implementation); the first
            // request compiles them as it would have anyway.
            return false;
        }
    }
}

/// <summary>What the precompile step did.</summary>
internal readonly record struct PrecompileResult(int Endpoints, int Prepared, int Skipped, TimeSpan Elapsed, string? Note);
