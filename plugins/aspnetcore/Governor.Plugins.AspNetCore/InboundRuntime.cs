using Governor.Interception;

namespace Governor.Plugins.AspNetCore;

/// <summary>
/// What the middleware and the host wiring share with the plugin: the pipeline, the host
/// lifecycle, the on/off switch and the fail-open log. Lives as long as the process, because the
/// middleware stays in the app's pipeline after the plugin stops (it then passes through).
/// BCL and contract types only: created in <see cref="AspNetCorePlugin.Start"/> of console apps too.
/// </summary>
internal sealed class InboundRuntime
{
    private readonly LogRateLimiter _failures = new(TimeSpan.FromSeconds(10));

    private readonly object _routeGate = new();

    // One switch per web host (RouteStage.Enable): typed as a BCL delegate so that this type
    // never refers to ASP.NET Core types (it exists in console apps too).
    private readonly List<Action<bool>> _routeStages = new();
    private IGovernorLogger _log;
    private volatile bool _active;
    private volatile bool _routeStageOn;
    private int _hostsSeen;

    public InboundRuntime(InterceptionHub hub, IGovernorLogger log, TimeProvider? time = null)
    {
        Pipeline = hub.Inbound;
        Host = hub.Host;
        Startup = hub.Startup;
        _log = log;
        Time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// The clock for request durations (<see cref="TimeProvider.System"/>: Stopwatch ticks). A
    /// seam for tests and for the benchmark that separates the pipeline's own cost from the two
    /// clock reads, which dominate where clock_gettime is not served by the vDSO (some VMs).
    /// </summary>
    public TimeProvider Time { get; }

    public HandlerPipeline<IInboundHandler> Pipeline { get; }

    public HostLifecycle Host { get; }

    /// <summary>Closed while governance plugins still start alongside the app (requests wait for it).</summary>
    public StartupGate Startup { get; }

    public IGovernorLogger Log => _log;

    /// <summary>Pooled call objects, shared by every web host of the process.</summary>
    public CallPool Calls { get; } = new(Math.Max(16, Environment.ProcessorCount * 8));

    /// <summary>False while the plugin is stopped: the middleware passes everything through.</summary>
    public bool IsActive => _active;

    public int HostsSeen => Volatile.Read(ref _hostsSeen);

    /// <summary>The last text given to the plugin's status detail.</summary>
    public string Detail { get; set; } = "no web host seen";

    /// <summary>
    /// True while a subscribed inbound handler implements <see cref="IInboundRouteHandler"/> (and
    /// the plugin runs): the middleware then registers each call on its HttpContext for the route
    /// stage, and every host's DiagnosticListener is subscribed. Otherwise the route stage costs nothing.
    /// </summary>
    public bool RouteStageOn => _routeStageOn;

    public void Activate(IGovernorLogger log)
    {
        _log = log;
        _active = true;
        Pipeline.Changed -= UpdateRouteStage;
        Pipeline.Changed += UpdateRouteStage;
        UpdateRouteStage();
    }

    public void Deactivate()
    {
        _active = false;
        Pipeline.Changed -= UpdateRouteStage;
        UpdateRouteStage();
    }

    /// <summary>Registers a web host's route stage switch and sets it to the current state.</summary>
    public void AddRouteStage(Action<bool> enable)
    {
        lock (_routeGate)
        {
            _routeStages.Add(enable);
            enable(_routeStageOn);
        }
    }

    /// <summary>
    /// Switches the route stage on while a route handler is subscribed, off otherwise. Runs on
    /// the thread that changed the pipeline (a plugin starting, stopping or recompiling), never
    /// on a request.
    /// </summary>
    internal void UpdateRouteStage()
    {
        try
        {
            lock (_routeGate)
            {
                bool on = _active && HasRouteHandler(Pipeline.Handlers);
                _routeStageOn = on;
                foreach (var enable in _routeStages)
                {
                    enable(on);
                }
            }
        }
        catch (Exception ex)
        {
            ReportFailure(ex, "route stage switch", null);
        }
    }

    private static bool HasRouteHandler(IInboundHandler[] handlers)
    {
        foreach (var handler in handlers)
        {
            if (handler is IInboundRouteHandler)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Counts web hosts that ran the bootstrap; returns the new count.</summary>
    public int HostSeen() => Interlocked.Increment(ref _hostsSeen);

    /// <summary>
    /// Logs a failure of Governor code (a handler, a callback, the wiring), at most once per 10 s
    /// with the count of those held back, so a handler failing on every request cannot flood the log.
    /// The request it happened in goes on (fail-open).
    /// </summary>
    public void ReportFailure(Exception exception, string what, object? who)
    {
        if (_failures.TryAcquire(out long suppressed))
        {
            _log.Error(exception, "Inbound {What} failed in {Who}; the request goes on (fail-open). {Suppressed} similar failure(s) not logged since the last one", what, who?.GetType().FullName ?? "aspnetcore", suppressed);
        }
    }
}
