using System.Diagnostics;
using Governor.Interception;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The online and offline sequences, driven by the web host's lifecycle (<see cref="HostLifecycle"/>,
/// provided by the aspnetcore plugin) and by SIGTERM.
/// <para>Online: Starting → (web host started) WarmingUp: precompile handlers, warm-up requests,
/// JIT settle → Delaying (startupDelay) → Ready. Every wait is bounded except the wait for a web
/// host that is being built to start (a host that never starts is not ready, by definition).</para>
/// <para>Offline: Stopping event or SIGTERM → Draining (readiness fails at once; the app keeps
/// serving, every response asks the client to leave) → after drainDelay, in the last stop gate,
/// Stopping: the server stops accepting and open requests are awaited, bounded by
/// shutdownTimeout → Stopped; only then the host goes on stopping.</para>
/// </summary>
internal sealed class LosslessLifecycle : IDisposable
{
    /// <summary>The stop-accepting gate runs after every other plugin's gate: they may still need the server.</summary>
    internal const int StopAcceptingGateOrder = int.MaxValue;

    internal const int DrainGateOrder = -100;

    private readonly LosslessOptions _options;
    private readonly LosslessState _state;
    private readonly InterceptionHub _hub;
    private readonly IGovernorLogger _log;
    private readonly TaskCompletionSource<IServiceProvider> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<IDisposable> _gates = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private IServiceProvider? _services;
    private Task? _signalStop;

    public LosslessLifecycle(LosslessOptions options, LosslessState state, InterceptionHub hub, IGovernorLogger log)
    {
        _options = options;
        _state = state;
        _hub = hub;
        _log = log;
    }

    /// <summary>Milliseconds from plugin start to readiness (status).</summary>
    public double ReadyAfterMs { get; private set; } = -1;

    /// <summary>What the warm-up did, for the status and the log.</summary>
    public string WarmupSummary { get; private set; } = "not run";

    /// <summary>What the last stop did, for the status.</summary>
    public string DrainSummary { get; private set; } = string.Empty;

    /// <summary>What started the stop (SIGTERM, the host), for the status.</summary>
    public string StopReason { get; private set; } = string.Empty;

    public void Attach()
    {
        var host = _hub.Host;
        // The host must allow the whole sequence: raise its shutdown timeout, never lower it.
        var minimum = _options.MinimumHostShutdown;
        if (host.MinimumShutdownTimeout is not { } current || current < minimum)
        {
            host.MinimumShutdownTimeout = minimum;
        }

        host.Started += OnStarted;
        host.Stopping += OnStopping;
    }

    /// <summary>
    /// Adds the two stop gates. Called from the plugin's background start, not from Start: the
    /// first gate a process adds costs a few milliseconds of JIT (the contract sorts the gates),
    /// and a web host cannot have started, let alone stopped, before this runs.
    /// </summary>
    public void AddStopGates()
    {
        var host = _hub.Host;
        lock (_gates)
        {
            _gates.Add(host.AddStopGate("lossless", DrainGateOrder, DrainAsync));
            _gates.Add(host.AddStopGate("lossless", StopAcceptingGateOrder, StopAcceptingAsync));
        }
    }

    public void Dispose()
    {
        _hub.Host.Started -= OnStarted;
        _hub.Host.Stopping -= OnStopping;
        lock (_gates)
        {
            foreach (var gate in _gates)
            {
                gate.Dispose();
            }

            _gates.Clear();
        }
    }

    /// <summary>SIGTERM (or the host stopping): readiness fails from now on.</summary>
    public void BeginStop(string reason)
    {
        if (_state.Advance(LosslessPhase.Draining))
        {
            StopReason = reason;
            _log.Info(
                "Stopping ({Reason}): readiness fails from now on; requests are served for the drain delay of {Drain} s, each answered with Connection: close and {Header}: {Value}; then the server stops accepting and in-flight requests are awaited for up to {Timeout} s",
                reason, _options.DrainDelay.TotalSeconds, InboundGuard.NoticeHeader, InboundGuard.NoticeValue, _options.ShutdownTimeout.TotalSeconds);
        }
    }

    /// <summary>
    /// SIGTERM, on the runtime's signal thread, before the signal's default action (which raises
    /// ProcessExit). Readiness fails at once. Under the old <c>WebHost</c> the whole stop sequence
    /// runs here, blocking that thread: that host learns of SIGTERM only through ProcessExit, where
    /// the agent stops its plugins (gates included) before the host raises ApplicationStopping, so
    /// the gates would never run (.NET 8 and 9). Bounded by drain + shutdown + 1 s. Never throws.
    /// </summary>
    public void OnSigterm()
    {
        try
        {
            BeginStop("SIGTERM");
            if (!OldWebHostMissesTheGates || _services is not { } services || !WebHostAccess.IsOldWebHost(services))
            {
                return;
            }

            Task stop;
            lock (_gates)
            {
                // A second SIGTERM waits for the same sequence instead of letting ProcessExit in early.
                stop = _signalStop ??= StopFromSignalAsync();
            }

            stop.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            _log.Warn(ex, "The stop sequence on SIGTERM failed; the host stops the usual way");
        }
    }

    /// <summary>
    /// Where the old WebHost's stop gates are never reached on SIGTERM (.NET 8 and 9, measured by
    /// Sigterm_OldWebHost_*). On .NET 10 they run inside ApplicationStopping: running the sequence
    /// from the signal there would stop the server before other plugins' gates.
    /// </summary>
    internal static bool OldWebHostMissesTheGates => Environment.Version.Major < 10;

    private async Task StopFromSignalAsync()
    {
        _log.Info("The old WebHost stops only after ProcessExit: the drain and the in-flight wait run from the SIGTERM handler");
        using var limit = new CancellationTokenSource(_options.MinimumHostShutdown);
        await DrainAsync(limit.Token).ConfigureAwait(false);
        await StopAcceptingAsync(limit.Token).ConfigureAwait(false);
    }

    /// <summary>The online sequence; runs once per plugin start, on a pool thread.</summary>
    public async Task RunOnlineAsync(CancellationToken stopping)
    {
        bool waitForHost = ShouldWaitForWebHost(out string why);
        if (waitForHost)
        {
            if (!await WaitForWebHostAsync(stopping).ConfigureAwait(false))
            {
                return;
            }
        }
        else
        {
            _log.Info("Readiness does not wait for a web host ({Why})", why);
        }

        if (!_state.Advance(LosslessPhase.WarmingUp))
        {
            return;
        }

        await WarmUpAsync(stopping).ConfigureAwait(false);
        if (_options.StartupDelay > TimeSpan.Zero && _state.Advance(LosslessPhase.Delaying))
        {
            await Task.Delay(_options.StartupDelay, stopping).ConfigureAwait(false);
        }

        if (_state.Advance(LosslessPhase.Ready))
        {
            ReadyAfterMs = Math.Round(_clock.Elapsed.TotalMilliseconds, 1);
            _log.Info(
                "Ready after {Ms} ms ({Warmup}{Delay}); traffic ramp over {Ramp} s (curve {Curve}){Cap}",
                ReadyAfterMs, WarmupSummary, _options.StartupDelay > TimeSpan.Zero ? $", then a startup delay of {_options.StartupDelay.TotalSeconds} s" : string.Empty,
                _options.WarmupTime.TotalSeconds, _options.WarmupCurve,
                _options.WarmupMaxConcurrency > 0 ? $", inbound concurrency capped from {_options.WarmupMinConcurrency} to {_options.WarmupMaxConcurrency}" : string.Empty);
        }
    }

    private bool ShouldWaitForWebHost(out string why)
    {
        switch (_options.WaitForWebHost)
        {
            case "true":
                why = "waitForWebHost is true";
                return true;
            case "false":
                why = "waitForWebHost is false";
                return false;
        }

        if (_hub.Host.Services is not null || _hub.Host.Provider is not null)
        {
            why = "a web host is being built";
            return true;
        }

        if (_hub.Inbound.Provider is null)
        {
            why = "no inbound interception plugin runs (aspnetcore disabled?), so a web host start cannot be seen";
            return false;
        }

        if (!HasAspNetCoreHosting())
        {
            why = "the app does not use ASP.NET Core hosting";
            return false;
        }

        why = "the app uses ASP.NET Core hosting";
        return true;
    }

    /// <summary>True when ASP.NET Core's hosting assembly is among the app's trusted platform assemblies (a string test: nothing is loaded).</summary>
    internal static bool HasAspNetCoreHosting() =>
        AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is string tpa
        && tpa.Contains("Microsoft.AspNetCore.Hosting.dll", StringComparison.OrdinalIgnoreCase);

    private async Task<bool> WaitForWebHostAsync(CancellationToken stopping)
    {
        // First a host must be built (the aspnetcore plugin's hosting startup names itself the
        // provider then); an app that never builds one within webHostWait is taken to have none,
        // so that readiness never stays failing because of a guess.
        var host = _hub.Host;
        var deadline = _clock.Elapsed + _options.WebHostWait;
        while (host.Provider is null && host.Services is null && !_started.Task.IsCompleted)
        {
            if (_clock.Elapsed >= deadline)
            {
                _log.Warn("No web host was built within {Seconds} s (webHostWait); readiness no longer waits for one", _options.WebHostWait.TotalSeconds);
                return true;
            }

            await Task.Delay(50, stopping).ConfigureAwait(false);
        }

        _services = await _started.Task.WaitAsync(stopping).ConfigureAwait(false);
        _log.Info("Web host started after {Ms} ms, listening on {Addresses}", Math.Round(_clock.Elapsed.TotalMilliseconds, 1), string.Join(", ", host.ServerAddresses));
        return true;
    }

    private async Task WarmUpAsync(CancellationToken stopping)
    {
        var parts = new List<string>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.WarmupTimeout);
        var clock = Stopwatch.StartNew();
        try
        {
            var services = _services;
            if (_options.Precompile && services is not null)
            {
                // CPU work: off the caller's thread, but awaited, so readiness follows it.
                var result = await Task.Run(() => WebHostAccess.Precompile(services, timeout.Token, () => Interlocked.Read(ref _state.InFlight) > 0), timeout.Token).ConfigureAwait(false);
                Interlocked.Add(ref _state.Precompiled, result.Prepared);
                parts.Add(result.Note ?? $"{result.Prepared} handler method(s) of {result.Endpoints} endpoint(s) precompiled in {result.Elapsed.TotalMilliseconds:0} ms");
            }

            if (_options.WarmupRequests.Count > 0)
            {
                if (services is not null && SelfWarmup.BaseAddress(_hub.Host.ServerAddresses) is { } baseAddress)
                {
                    var sent = await SelfWarmup.SendAsync(baseAddress, _options.WarmupRequests, _options.WarmupRepeat, timeout.Token).ConfigureAwait(false);
                    Interlocked.Add(ref _state.WarmupRequestsSent, sent.Sent);
                    Interlocked.Add(ref _state.WarmupRequestsFailed, sent.Failed);
                    parts.Add($"{sent.Sent} warm-up request(s) to {baseAddress.Authority} in {sent.Elapsed.TotalMilliseconds:0} ms");
                    if (sent.FirstFailure is not null)
                    {
                        _log.Warn("{Failed} of {Sent} warm-up request(s) failed, first: {Failure}; readiness goes on (fail-open)", sent.Failed, sent.Sent, sent.FirstFailure);
                    }

                    if (_options.WarmupJitSettle)
                    {
                        var settle = await SelfWarmup.SettleJitAsync(TimeSpan.FromSeconds(10), timeout.Token).ConfigureAwait(false);
                        parts.Add($"JIT settled in {settle.Waited.TotalMilliseconds:0} ms ({settle.Compiled} more method(s))");
                    }
                }
                else
                {
                    _log.Warn("Warm-up requests are configured but the server has no TCP address to send them to ({Addresses}); skipped", string.Join(", ", _hub.Host.ServerAddresses));
                }
            }
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            _log.Warn("The warm-up did not finish within {Seconds} s (warmupTimeout); readiness goes on without the rest", _options.WarmupTimeout.TotalSeconds);
            parts.Add("cut short by warmupTimeout");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _log.Warn(ex, "The warm-up failed; readiness goes on (fail-open)");
            parts.Add("failed: " + ex.GetType().Name);
        }

        WarmupSummary = parts.Count == 0 ? "no warm-up" : $"warm-up {clock.Elapsed.TotalMilliseconds:0} ms: {string.Join(", ", parts)}";
    }

    private void OnStarted(IServiceProvider services)
    {
        _services = services;
        _started.TrySetResult(services);
    }

    private void OnStopping() => BeginStop("the host is stopping");

    /// <summary>Stop gate -100: keeps the server serving (and readiness failing) for the drain delay.</summary>
    private async Task DrainAsync(CancellationToken token)
    {
        BeginStop("the host is stopping");
        if (!_state.WasReady)
        {
            // Never ready: no load balancer has sent it traffic, nothing to wait out.
            _log.Info("The instance was never ready: no drain delay");
            return;
        }

        var remaining = _options.DrainDelay - Elapsed(_state.DrainSince);
        if (remaining <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(remaining, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _log.Warn("The host's shutdown timeout cut the drain delay short");
        }
    }

    /// <summary>The last stop gate: stop accepting, await in-flight requests (adaptive, bounded by shutdownTimeout).</summary>
    private async Task StopAcceptingAsync(CancellationToken token)
    {
        BeginStop("the host is stopping");
        if (!_state.Advance(LosslessPhase.Stopping))
        {
            return;
        }

        var drained = Elapsed(_state.DrainSince);
        long atStop = Interlocked.Read(ref _state.InFlight);
        Interlocked.Exchange(ref _state.InFlightAtStop, atStop);
        var clock = Stopwatch.StartNew();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(token);
        limit.CancelAfter(_options.ShutdownTimeout);
        try
        {
            if (_services is { } services && WebHostAccess.StopServerAsync(services, limit.Token) is { } serverStop)
            {
                await serverStop.ConfigureAwait(false);
            }

            // The server returns once its connections are closed; requests counted by the
            // pipeline are normally done by then. Poll the rest (e.g. a server without graceful stop).
            while (Interlocked.Read(ref _state.InFlight) > 0 && !limit.IsCancellationRequested)
            {
                await Task.Delay(10, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The bound: reported below.
        }
        catch (Exception ex)
        {
            _log.Warn(ex, "Stopping the server failed; the host stops it the usual way");
        }

        long left = Math.Max(0, Interlocked.Read(ref _state.InFlight));
        long served = Interlocked.Read(ref _state.ServedWhileDraining);
        DrainSummary = left == 0
            ? $"drained {drained.TotalSeconds:0.0} s ({served} request(s) served while draining); {atStop} in flight at stop, all completed in {clock.Elapsed.TotalMilliseconds:0} ms"
            : $"drained {drained.TotalSeconds:0.0} s ({served} request(s) served while draining); {left} of {atStop} still in flight after {clock.Elapsed.TotalSeconds:0.0} s (shutdownTimeout {_options.ShutdownTimeout.TotalSeconds} s or the host's own timeout): the server aborts them";
        if (left == 0)
        {
            _log.Info("Stopped accepting; {Summary}", DrainSummary);
        }
        else
        {
            _log.Warn("Stopped accepting; {Summary}", DrainSummary);
        }

        _state.Advance(LosslessPhase.Stopped);
    }

    private static TimeSpan Elapsed(long since) => since == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(since);
}
