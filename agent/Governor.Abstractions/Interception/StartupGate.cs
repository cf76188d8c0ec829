namespace Governor.Interception;

/// <summary>
/// Whether the agent has finished starting its plugins. The agent starts the interception plugins
/// before the app's Main and the governance plugins (gray, throttle, lossless, ...) alongside the
/// app; a request, outbound call or SQL command intercepted in between is held here until they
/// have started (Started or Failed), so the first calls are governed like every later one. Bounded
/// by <see cref="HoldTimeout"/>: after it a call goes on as it would without those plugins.
/// A gate is open unless the agent is starting (so pipelines built by tests need nothing).
/// </summary>
public sealed class StartupGate
{
    private readonly LogRateLimiter _timeoutLog = new(TimeSpan.FromSeconds(10));
    private volatile TaskCompletionSource? _pending;
    private long _timedOut;

    /// <summary>True when no start is in progress: the one read the hot paths make.</summary>
    public bool IsOpen => _pending is null;

    /// <summary>The longest a call waits for the start (setting <c>governor:startup:holdTimeout</c>).</summary>
    public TimeSpan HoldTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Where a call that waited the whole <see cref="HoldTimeout"/> is reported (rate-limited); set by the agent.</summary>
    public IGovernorLogger? Log { get; set; }

    /// <summary>Calls that waited the whole <see cref="HoldTimeout"/> and went on ungoverned.</summary>
    public long TimedOut => Interlocked.Read(ref _timedOut);

    /// <summary>Completes when the gate opens (at once when it is open).</summary>
    public Task WhenOpen => _pending?.Task ?? Task.CompletedTask;

    /// <summary>Blocks until the gate opens or <see cref="HoldTimeout"/> passes; returns whether it opened.</summary>
    public bool Wait()
    {
        var pending = _pending;
        if (pending is null)
        {
            return true;
        }

        if (pending.Task.Wait(HoldTimeout))
        {
            return true;
        }

        TimedOutOnce();
        return false;
    }

    /// <summary>Waits asynchronously until the gate opens or <see cref="HoldTimeout"/> passes; returns whether it opened.</summary>
    public async Task<bool> WaitAsync(CancellationToken cancellationToken)
    {
        var pending = _pending;
        if (pending is null)
        {
            return true;
        }

        try
        {
            await pending.Task.WaitAsync(HoldTimeout, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            TimedOutOnce();
            return false;
        }
    }

    private void TimedOutOnce()
    {
        Interlocked.Increment(ref _timedOut);
        if (Log is { } log && _timeoutLog.TryAcquire(out long suppressed))
        {
            log.Warn("An intercepted call (request, outbound call or SQL command) waited {Seconds} s (governor:startup:holdTimeout) for the plugins to finish starting and went on without those still starting. {Suppressed} similar call(s) not logged since the last one", HoldTimeout.TotalSeconds, suppressed);
        }
    }

    // ---- Agent side ----

    /// <summary>Closes the gate: called by the agent before it starts plugins alongside the app.</summary>
    public void Close() => Interlocked.CompareExchange(ref _pending, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

    /// <summary>Opens the gate and releases every held call: called by the agent when its start is over.</summary>
    public void Open() => Interlocked.Exchange(ref _pending, null)?.TrySetResult();
}
