using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// Attaches Governor to one web host, from inside its hosting startup (so before the app's own
/// registrations): the inbound middleware as the outermost middleware through an
/// <see cref="IStartupFilter"/> inserted first, the host lifecycle (started, stopping, stop gates)
/// and the minimum shutdown timeout.
/// </summary>
internal static class WebHostWiring
{
    public static void Configure(InboundRuntime runtime, object builderObject, Action<string> setDetail)
    {
        if (builderObject is not IWebHostBuilder builder)
        {
            return;
        }

        // The old WebHostBuilder stops its hosted services only after the server has stopped, so
        // stop gates cannot run there; the generic host (WebApplication, Host.ConfigureWebHost*)
        // calls IHostedLifecycleService.StoppingAsync before any hosted service stops, Kestrel included.
        bool legacy = builder is WebHostBuilder;
        runtime.HostSeen();
        runtime.Host.SetProvider(AspNetCorePlugin.PluginName);
        var filter = new GovernorStartupFilter(runtime, legacy, setDetail);
        builder.ConfigureServices(services =>
        {
            // First filter = outermost middleware, even if another hosting startup added one before.
            services.Insert(0, ServiceDescriptor.Singleton<IStartupFilter>(filter));
            if (!legacy)
            {
                services.AddSingleton<IHostedService>(new StopGateService(runtime));
                services.PostConfigure<HostOptions>(options => TrackMinimumShutdownTimeout(runtime, options));
            }
        });
    }

    /// <summary>
    /// Applies the minimum now and whenever it changes: a governance plugin that starts alongside
    /// the app (lossless) may set it after the host was built, and the host reads this same
    /// options object when it stops.
    /// </summary>
    internal static void TrackMinimumShutdownTimeout(InboundRuntime runtime, HostOptions options)
    {
        ApplyMinimumShutdownTimeout(runtime, options);
        runtime.Host.MinimumShutdownTimeoutChanged += () => ApplyMinimumShutdownTimeout(runtime, options);
    }

    /// <summary>Raises <see cref="HostOptions.ShutdownTimeout"/> to the lifecycle's minimum; never lowers the app's value.</summary>
    internal static void ApplyMinimumShutdownTimeout(InboundRuntime runtime, HostOptions options)
    {
        if (runtime.IsActive && runtime.Host.MinimumShutdownTimeout is { } minimum && minimum > options.ShutdownTimeout)
        {
            options.ShutdownTimeout = minimum;
        }
    }

    private sealed class GovernorStartupFilter : IStartupFilter
    {
        private readonly InboundRuntime _runtime;
        private readonly bool _legacy;
        private readonly Action<string> _setDetail;

        public GovernorStartupFilter(InboundRuntime runtime, bool legacy, Action<string> setDetail)
        {
            _runtime = runtime;
            _legacy = legacy;
            _setDetail = setDetail;
        }

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            try
            {
                AttachLifecycle(app.ApplicationServices);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "host lifecycle wiring", this);
            }

            try
            {
                // The listener the app's routing middleware writes EndpointMatched to (one per host, from DI).
                if (app.ApplicationServices.GetService<DiagnosticListener>() is { } listener)
                {
                    _runtime.AddRouteStage(new RouteStage(_runtime, listener).Enable);
                }
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "route stage wiring", this);
            }

            app.Use(inner => new InboundMiddleware(inner, _runtime).InvokeAsync);
            next(app);
        };

        private void AttachLifecycle(IServiceProvider services)
        {
            var lifetime = services.GetService<IHostApplicationLifetime>();
            if (lifetime is null)
            {
                return;
            }

            lifetime.ApplicationStarted.Register(() => OnStarted(services));
            lifetime.ApplicationStopping.Register(OnStopping);
        }

        private void OnStarted(IServiceProvider services)
        {
            try
            {
                var addresses = services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses;
                string[] list = addresses is null ? Array.Empty<string>() : addresses.ToArray();
                if (_runtime.IsActive)
                {
                    _runtime.Host.NotifyStarted(services, list);
                }

                string detail = $"web host seen ({(_legacy ? "WebHost" : "generic host")}), listening on {(list.Length == 0 ? "(no address)" : string.Join(", ", list))}";
                _runtime.Detail = detail;
                _setDetail(detail);
            }
            catch (Exception ex)
            {
                _runtime.ReportFailure(ex, "host started notification", this);
            }
        }

        private void OnStopping()
        {
            if (!_runtime.IsActive)
            {
                return;
            }

            _runtime.Host.NotifyStopping();
            if (_legacy)
            {
                // Best effort for the old WebHost: its ApplicationStopping callbacks are the last
                // thing that runs before it stops the server, so the gates run here, bounded.
                var limit = _runtime.Host.MinimumShutdownTimeout ?? TimeSpan.FromSeconds(30);
                using var cts = new CancellationTokenSource(limit);
                try
                {
                    _runtime.Host.RunStopGatesAsync(cts.Token).Wait(limit);
                }
                catch (Exception ex)
                {
                    _runtime.ReportFailure(ex, "stop gates", this);
                }
            }
        }
    }

    /// <summary>
    /// Runs the stop gates from <see cref="IHostedLifecycleService.StoppingAsync"/>: the generic host
    /// calls it before the StopAsync of any hosted service, so Kestrel (GenericWebHostService) still
    /// accepts and serves requests while the gates wait. Bounded by the host's shutdown timeout.
    /// </summary>
    private sealed class StopGateService : IHostedLifecycleService
    {
        private readonly InboundRuntime _runtime;

        public StopGateService(InboundRuntime runtime) => _runtime = runtime;

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken)
        {
            if (!_runtime.IsActive)
            {
                return Task.CompletedTask;
            }

            // Host.StopAsync called directly (not through SIGTERM) reaches here before ApplicationStopping.
            _runtime.Host.NotifyStopping();
            return _runtime.Host.RunStopGatesAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
