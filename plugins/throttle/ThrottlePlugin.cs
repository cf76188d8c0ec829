using Governor.Plugins.Throttle.Limiting;
using Governor.Plugins.Throttle.Rules;
using Governor.Rules;

namespace Governor.Plugins.Throttle;

/// <summary>
/// The throttle plugin: OpenSergo fault-tolerance rate limits (with Sentinel's warm-up),
/// throttling (uniform queueing) and concurrency limits, with HTTP fallback actions, on the
/// inbound and outbound interception points. It needs nothing but the plugin contract: it
/// subscribes a handler to each pipeline and reads its rules from the agent's rule store.
/// </summary>
public sealed class ThrottlePlugin : IGovernorPlugin
{
    /// <summary>The plugin's place in the inbound and outbound pipelines (after lossless and gray).</summary>
    public const int PipelineOrder = 100;

    private static readonly TimeSpan s_settingsPoll = TimeSpan.FromSeconds(2);

    private readonly TimeProvider _time;
    private readonly List<IDisposable> _registrations = new();
    private readonly object _routeGate = new();
    private IPluginContext? _context;
    private ThrottleEngine? _engine;
    private IDisposable? _routeSubscription;
    private bool _running;

    public ThrottlePlugin()
        : this(TimeProvider.System)
    {
    }

    /// <summary>For tests: all of the plugin's time (windows, queueing, settings polling) comes from <paramref name="time"/>.</summary>
    internal ThrottlePlugin(TimeProvider time)
    {
        _time = time;
        RuleKinds = ThrottleRuleKinds.Create();
    }

    public IReadOnlyList<RuleKind> RuleKinds { get; }

    public void Start(IPluginContext context)
    {
        _context = context;
        var engine = new ThrottleEngine(context.Logger, new ThrottleClock(_time), context.Agent.AppName, ThrottleSettings.Read(context.Settings));
        engine.Compiled = summary => context.SetDetail(Detail(context, summary));
        _engine = engine;

        // Subscribe before reading the current rules so that no change falls in between; the
        // engine ignores a snapshot older than the one it applied.
        context.Rules.Changed += OnRulesChanged;
        engine.Apply(context.Rules.Current);
        context.RegisterStatus(engine);

        // The handlers never read durations: without them the providers skip two clock reads per call.
        _registrations.Add(context.Interception.Inbound.Subscribe(new InboundThrottleHandler(engine), PipelineOrder, context.PluginName, measuresDuration: false));
        _registrations.Add(context.Interception.Outbound.Subscribe(() => new OutboundThrottleHandler(engine), PipelineOrder, context.PluginName, measuresDuration: false));
        lock (_routeGate)
        {
            _running = true;
        }

        engine.RoutesCompiled = UpdateRouteHandler;
        UpdateRouteHandler(engine.Rules.HasRoutes);

        // The contract has no settings-changed event; observe mode and the outbound rejection
        // style are re-read every 2 s so that governor.json can switch them without a restart.
        _registrations.Add(_time.CreateTimer(_ => PollSettings(), null, s_settingsPoll, s_settingsPoll));
    }

    public void Stop()
    {
        if (_context is not null)
        {
            _context.Rules.Changed -= OnRulesChanged;
        }

        // Calls in flight keep their handler and still give their permits back on completion.
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _registrations.Clear();
        lock (_routeGate)
        {
            _running = false;
            _routeSubscription?.Dispose();
            _routeSubscription = null;
        }
    }

    /// <summary>
    /// Subscribes the route-stage handler while route template names are configured, and only
    /// then: a subscribed route handler switches on the provider's route stage for every request.
    /// Runs on the agent's thread (start, rule changes), never on a request.
    /// </summary>
    private void UpdateRouteHandler(bool routes)
    {
        lock (_routeGate)
        {
            if (routes && _running && _routeSubscription is null && _context is { } context && _engine is { } engine)
            {
                _routeSubscription = context.Interception.Inbound.Subscribe(new RouteThrottleHandler(engine), PipelineOrder, context.PluginName, measuresDuration: false);
            }
            else if (!routes && _routeSubscription is not null)
            {
                _routeSubscription.Dispose();
                _routeSubscription = null;
            }
        }
    }

    private static string Detail(IPluginContext context, string summary)
    {
        string inbound = context.Interception.Inbound.Provider ?? "no provider yet";
        string outbound = context.Interception.Outbound.Provider ?? "no provider yet";
        return $"{summary}; inbound: {inbound}; outbound: {outbound}";
    }

    private void OnRulesChanged(RuleSet rules) => _engine?.Apply(rules);

    private void PollSettings()
    {
        try
        {
            if (_context is { } context && _engine is { } engine)
            {
                engine.UpdateSettings(ThrottleSettings.Read(context.Settings), context.Rules.Current);
            }
        }
        catch (Exception ex)
        {
            _engine?.ReportFault(ex);
        }
    }
}
