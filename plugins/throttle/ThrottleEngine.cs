using System.Globalization;
using Governor.Interception;
using Governor.Plugins.Throttle.Compilation;
using Governor.Plugins.Throttle.Limiting;
using Governor.Rules;
using Governor.Status;

namespace Governor.Plugins.Throttle;

/// <summary>The plugin's settings (<c>plugins:throttle:*</c>).</summary>
internal sealed record ThrottleSettings(bool Observe, bool OutboundThrows, TimeSpan LogInterval)
{
    public static readonly ThrottleSettings Default = new(false, false, TimeSpan.FromSeconds(10));

    public static ThrottleSettings Read(IPluginSettings settings) => new(
        settings.GetBool("observe", false),
        settings.GetChoice("outboundRejection", "response", "response", "exception") == "exception",
        settings.GetDuration("logInterval", Default.LogInterval));
}

/// <summary>
/// The plugin's state: the compiled rules (one volatile reference the handlers read), their
/// compilation on rule and setting changes, fault reporting, and status.
/// </summary>
internal sealed class ThrottleEngine : IStatusProvider
{
    private readonly object _compileGate = new();
    private readonly IGovernorLogger _log;
    private readonly string _appName;
    private readonly LogRateLimiter _faultLog = new(TimeSpan.FromSeconds(10));
    private CompiledRules _rules = CompiledRules.Empty;
    private ThrottleSettings _settings;
    private HashSet<string> _loggedWarnings = new(StringComparer.Ordinal);
    private long _faults;
    private long _appliedVersion = long.MinValue;

    public ThrottleEngine(IGovernorLogger log, ThrottleClock clock, string appName, ThrottleSettings settings)
    {
        _log = log;
        Clock = clock;
        _appName = appName;
        _settings = settings;
    }

    public ThrottleClock Clock { get; }

    /// <summary>The current compiled rules. Capture once per call.</summary>
    public CompiledRules Rules => Volatile.Read(ref _rules);

    public ThrottleSettings Settings => Volatile.Read(ref _settings);

    public long Faults => Interlocked.Read(ref _faults);

    /// <summary>Called with a short summary after every compilation (the plugin shows it as its detail).</summary>
    public Action<string>? Compiled { get; set; }

    /// <summary>
    /// Called after every compilation with whether route template names exist: the plugin
    /// subscribes its route-stage handler only then, so that apps without them never pay for
    /// the provider's route stage.
    /// </summary>
    public Action<bool>? RoutesCompiled { get; set; }

    /// <summary>Builds and publishes the compiled form of <paramref name="rules"/>.</summary>
    public void Apply(RuleSet rules)
    {
        lock (_compileGate)
        {
            if (rules.Version < _appliedVersion)
            {
                return;
            }

            _appliedVersion = rules.Version;
            var settings = Settings;
            var options = new CompileOptions(_appName, settings.Observe, Clock, _log, settings.LogInterval);
            var result = RuleCompiler.Compile(rules, options, _rules);
            foreach (var update in result.Reconfigure)
            {
                update();
            }

            Volatile.Write(ref _rules, result.Rules);
            RoutesCompiled?.Invoke(result.Rules.HasRoutes);
            LogNewWarnings(result.Warnings);
            string summary = Summarize(result.Rules, settings);
            _log.Info("Throttle rules version {Version}: {Summary}", rules.Version, summary);
            Compiled?.Invoke(summary);
        }
    }

    /// <summary>Applies changed settings (observe mode, outbound rejection), recompiling when they matter to the rules.</summary>
    public void UpdateSettings(ThrottleSettings settings, RuleSet rules)
    {
        // The log interval belongs to each resource's log limiter, made once: it is read at start only.
        var old = Interlocked.Exchange(ref _settings, settings with { LogInterval = Settings.LogInterval });
        if (old.Observe != settings.Observe)
        {
            _log.Info("Throttle observe mode is now {Observe}", settings.Observe ? "on" : "off");
            Apply(rules);
        }
    }

    /// <summary>Fail-open: a fault inside the plugin lets the call through and is logged at most once per interval.</summary>
    public void ReportFault(Exception exception)
    {
        Interlocked.Increment(ref _faults);
        if (_faultLog.TryAcquire(out long suppressed))
        {
            _log.Error(exception, "Throttle let a call through after an internal error ({Suppressed} more since the previous message)", suppressed);
        }
    }

    public void Collect(StatusCollector collector)
    {
        var rules = Rules;
        long nowMs = Clock.NowMs;
        foreach (var binding in rules.Bindings)
        {
            var stats = binding.Stats;
            collector.Counter(stats.Resource, "passed", stats.Passed);
            collector.Counter(stats.Resource, "blocked", stats.Blocked);
            collector.Counter(stats.Resource, "queued", stats.Queued);
            collector.Counter(stats.Resource, "observedBlocks", stats.ObservedBlocks);
            if (binding.Queues.Length != 0)
            {
                collector.Counter(stats.Resource, "abandoned", stats.Abandoned);
            }

            if (binding.Concurrency.Length != 0)
            {
                collector.Gauge(stats.Resource, "inFlight", binding.Concurrency.Max(g => g.Limiter.InFlight));
            }

            if (binding.Rates.Length != 0)
            {
                collector.Gauge(stats.Resource, "rateLimit", binding.Rates.Min(g => g.Limiter.CurrentLimit(nowMs)));
            }

            collector.State(stats.Resource, binding.Observing ? "observing" : "enforcing");
        }

        collector.Counter("(throttle)", "faults", Faults);
    }

    private void LogNewWarnings(IReadOnlyList<string> warnings)
    {
        // Each problem is logged when it appears, not again on every reload while it stays.
        var current = new HashSet<string>(warnings, StringComparer.Ordinal);
        foreach (string warning in current)
        {
            if (!_loggedWarnings.Contains(warning))
            {
                _log.Warn("{Warning}", warning);
            }
        }

        _loggedWarnings = current;
    }

    private static string Summarize(CompiledRules rules, ThrottleSettings settings)
    {
        int inbound = rules.Bindings.Count(b => b.Name.Form != Resources.ResourceForm.Host);
        int outbound = rules.Bindings.Count - inbound;
        return string.Create(CultureInfo.InvariantCulture, $"{inbound} inbound and {outbound} outbound resources{(settings.Observe ? ", observe mode" : string.Empty)}");
    }
}

/// <summary>Throttles outbound calls (HttpClient, gRPC clients over it) per destination.</summary>
internal sealed class OutboundThrottleHandler : IOutboundHandler
{
    private readonly ThrottleEngine _engine;

    public OutboundThrottleHandler(ThrottleEngine engine)
    {
        _engine = engine;
    }

    public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken)
    {
        try
        {
            // A retry runs this again; give back what an attempt without completion still holds.
            ReleasePermits(call);
            var rules = _engine.Rules;
            if (!rules.HasOutbound || call.Request.RequestUri is not { IsAbsoluteUri: true } uri)
            {
                return default;
            }

            var match = rules.MatchOutbound(uri);
            if (match.Count == 0)
            {
                return default;
            }

            var rejected = Admission.Check(in match, _engine.Clock, out var ticket);
            if (rejected is not null)
            {
                return Reject(call, rejected);
            }

            if (ticket.WaitTicks > 0)
            {
                return new ValueTask<HttpResponseMessage?>(EnterAfterAsync(call, match, ticket, cancellationToken));
            }

            return Enter(call, in match, in ticket);
        }
        catch (Exception ex)
        {
            _engine.ReportFault(ex);
            return default;
        }
    }

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome)
    {
        try
        {
            ReleasePermits(call);
        }
        catch (Exception ex)
        {
            _engine.ReportFault(ex);
        }

        return OutboundDecision.None;
    }

    private static void ReleasePermits(OutboundCall call)
    {
        object? permits = call.State;
        if (permits is not null)
        {
            call.State = null;
            Admission.Release(permits);
        }
    }

    private ValueTask<HttpResponseMessage?> Enter(OutboundCall call, in Match match, in Ticket ticket)
    {
        var rejected = Admission.Enter(in match, in ticket);
        if (rejected is not null)
        {
            return Reject(call, rejected);
        }

        call.State = Admission.PermitState(in match);
        return default;
    }

    private ValueTask<HttpResponseMessage?> Reject(OutboundCall call, Guard guard)
    {
        if (_engine.Settings.OutboundThrows)
        {
            return ValueTask.FromException<HttpResponseMessage?>(new ThrottledException(guard.Rejection.Resource, guard.Kind, guard.Strategy, guard.Rejection.StatusCode));
        }

        return new ValueTask<HttpResponseMessage?>(guard.Rejection.CreateOutbound(call.Request, call.IsGrpc));
    }

    private async Task<HttpResponseMessage?> EnterAfterAsync(OutboundCall call, Match match, Ticket ticket, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(_engine.Clock.ToTimeSpan(ticket.WaitTicks), _engine.Clock.Provider, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The caller gave up while queued: no permit was taken, the call is not sent, its
            // slot goes back to the queue, and its cancellation is its answer.
            Admission.Abandon(in match, in ticket);
            for (int i = 0; i < match.Count; i++)
            {
                if (match[i].Queues.Length != 0)
                {
                    match[i].Stats.AddAbandoned();
                }
            }

            throw;
        }

        try
        {
            return await Enter(call, in match, in ticket).ConfigureAwait(false);
        }
        catch (ThrottledException)
        {
            throw;
        }
        catch (Exception ex)
        {
            _engine.ReportFault(ex);
            return null;
        }
    }
}
