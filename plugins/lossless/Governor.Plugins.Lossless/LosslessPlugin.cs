using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Governor.Plugins.Lossless;

/// <summary>
/// Lossless online and offline (MSE's 无损上线 / 无损下线) without a code change: the agent serves
/// readiness and liveness itself, fails readiness and drains on stop, warms the app up before
/// readiness, ramps traffic up after it, and retries idempotent calls that meet an instance going
/// away. Start does no I/O on the startup path: it reads settings, subscribes and hands the
/// probe server and the online sequence to a pool thread. This type touches only BCL and contract
/// types, so a console app never loads ASP.NET Core because of it.
/// </summary>
public sealed class LosslessPlugin : IGovernorPlugin
{
    internal const string PluginName = "lossless";

    private readonly List<IDisposable> _subscriptions = new();
    private IPluginContext? _context;
    private LosslessOptions? _options;
    private LosslessLifecycle? _lifecycle;
    private ProbeServer? _probe;
    private RampGate? _gate;
    private PosixSignalRegistration? _sigterm;
    private CancellationTokenSource? _stopping;
    private string _probeText = "probes starting";

    /// <summary>The instance's state (tests read it through the status).</summary>
    internal LosslessState? State { get; private set; }

    public void Start(IPluginContext context)
    {
        _context = context;
        long t0 = Stopwatch.GetTimestamp();
        var log = context.Logger;
        var options = LosslessOptions.Read(context.Settings, m => log.Warn("{Message}", m));
        long tSettings = Stopwatch.GetTimestamp();
        _options = options;
        var state = new LosslessState();
        State = state;
        var ramp = new WarmupRamp(state, options.WarmupTime, options.WarmupCurve, options.WarmupMaxConcurrency, options.WarmupMinConcurrency);
        _gate = ramp.CapsConcurrency ? new RampGate(ramp.Capacity, options.WarmupQueueTimeout) : null;

        var hub = context.Interception;
        _subscriptions.Add(hub.Inbound.Subscribe(new InboundGuard(state, ramp, _gate), LosslessLifecycle.DrainGateOrder, PluginName, measuresDuration: false));
        if (options.CallerRetry)
        {
            _subscriptions.Add(hub.Outbound.Subscribe(() => new CallerRetryHandler(state, log), LosslessLifecycle.DrainGateOrder, PluginName, measuresDuration: false));
        }

        long tPipelines = Stopwatch.GetTimestamp();
        var lifecycle = new LosslessLifecycle(options, state, hub, log);
        _lifecycle = lifecycle;
        lifecycle.Attach();
        long tAttach = Stopwatch.GetTimestamp();
        state.PhaseChanged += (_, _) => UpdateDetail();
        context.RegisterStatus(new LosslessStatus(state, ramp, _gate, lifecycle));
        long tLifecycle = Stopwatch.GetTimestamp();
        WatchSigterm(lifecycle);
        long tSignal = Stopwatch.GetTimestamp();
        CheckGracePeriod(options, log);
        UpdateDetail();

        _stopping = new CancellationTokenSource();
        var token = _stopping.Token;
        _ = Task.Run(() => RunAsync(options, state, lifecycle, token), token);
        log.Debug(
            "Start: settings {Settings} ms, pipelines {Pipelines} ms, host lifecycle {Lifecycle} ms, status {Status} ms, SIGTERM {Signal} ms, rest {Rest} ms",
            Ms(t0, tSettings), Ms(tSettings, tPipelines), Ms(tPipelines, tAttach), Ms(tAttach, tLifecycle), Ms(tLifecycle, tSignal), Ms(tSignal, Stopwatch.GetTimestamp()));
    }

    private static double Ms(long from, long to) => Math.Round((to - from) * 1000.0 / Stopwatch.Frequency, 2);

    public void Stop()
    {
        try
        {
            _stopping?.Cancel();
        }
        catch (AggregateException)
        {
            // A continuation threw while cancelling; it is stopping anyway.
        }

        _sigterm?.Dispose();
        _sigterm = null;
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }

        _subscriptions.Clear();
        _lifecycle?.Dispose();
        _probe?.Dispose();
        _probe = null;
        _gate?.Dispose();
        State?.Advance(LosslessPhase.Stopped);
    }

    private async Task RunAsync(LosslessOptions options, LosslessState state, LosslessLifecycle lifecycle, CancellationToken token)
    {
        try
        {
            lifecycle.AddStopGates();
            StartProbes(options, state);
            await lifecycle.RunOnlineAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopped while starting up.
        }
        catch (Exception ex)
        {
            // Fail-open: without the online sequence the instance stays unready, which must be
            // visible; the app itself is not affected.
            _context?.Logger.Error(ex, "The lossless online sequence failed; readiness stays at {Phase}", LosslessState.NameOf(state.Phase));
        }
    }

    private void StartProbes(LosslessOptions options, LosslessState state)
    {
        var clock = Stopwatch.StartNew();
        var probe = new ProbeServer(options.ReadinessPath, options.LivenessPath, () => state.Phase, () => Interlocked.Increment(ref state.ReadinessProbes));
        string? error = probe.Start(options.ProbeAddress, options.ProbePort);
        var log = _context!.Logger;
        if (error is not null)
        {
            probe.Dispose();
            _probeText = "no probes: " + error;
            log.Error(null, "Readiness and liveness are not served: {Error}. The app runs normally; a Kubernetes readiness probe on this port will fail", error);
        }
        else
        {
            _probe = probe;
            _probeText = $"probes on {probe.Endpoint} ({options.ReadinessPath}, {options.LivenessPath})";
            log.Info("Readiness on {Endpoint}{Ready}, liveness on {Live} (listening after {Ms} ms)", probe.Endpoint, options.ReadinessPath, options.LivenessPath, Math.Round(clock.Elapsed.TotalMilliseconds, 2));
        }

        UpdateDetail();
    }

    private void UpdateDetail()
    {
        var state = State;
        if (_context is null || state is null)
        {
            return;
        }

        _context.SetDetail($"{_probeText}; {LosslessState.NameOf(state.Phase)}");
    }

    private void WatchSigterm(LosslessLifecycle lifecycle)
    {
        try
        {
            // Fails readiness the moment the signal arrives, before the host reacts to it. The
            // signal is not cancelled here: the host (or the runtime's default) decides what it does.
            _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => lifecycle.OnSigterm());
        }
        catch (Exception ex) when (ex is PlatformNotSupportedException or IOException)
        {
            _context?.Logger.Debug("SIGTERM cannot be watched here ({Message}); the host's stopping event is used", ex.Message);
        }
    }

    private static void CheckGracePeriod(LosslessOptions options, IGovernorLogger log)
    {
        var grace = options.TerminationGracePeriod;
        string source = "terminationGracePeriod";
        if (grace is null && Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST") is { Length: > 0 })
        {
            grace = LosslessOptions.KubernetesDefaultGrace;
            source = "Kubernetes' default (GOVERNOR_PLUGINS__LOSSLESS__TERMINATIONGRACEPERIOD not set)";
        }

        if (grace is { } g && options.RequiredGrace > g)
        {
            log.Warn(
                "drainDelay {Drain} s + shutdownTimeout {Shutdown} s + 2 s = {Required} s does not fit the termination grace period of {Grace} s ({Source}): Kubernetes will kill the process before in-flight requests are done. Raise terminationGracePeriodSeconds to at least {Required} s or lower the lossless settings",
                options.DrainDelay.TotalSeconds, options.ShutdownTimeout.TotalSeconds, Math.Ceiling(options.RequiredGrace.TotalSeconds), g.TotalSeconds, source);
        }
    }
}
