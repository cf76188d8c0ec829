namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// Counters of one resource, kept across hot reloads while the resource stays configured.
/// Updated with <see cref="Interlocked"/> on the request path and read by status collection.
/// Rejections are logged through a per-resource <see cref="LogRateLimiter"/>, so a flood on
/// one resource becomes one line per interval with the count held back, and cannot hide the
/// first rejection on another resource.
/// </summary>
internal sealed class ResourceStats
{
    private readonly IGovernorLogger _log;
    private readonly LogRateLimiter _logLimiter;
    private long _passed;
    private long _blocked;
    private long _queued;
    private long _observedBlocks;

    public ResourceStats(string resource, IGovernorLogger log, TimeSpan logInterval)
    {
        Resource = resource;
        _log = log;
        _logLimiter = new LogRateLimiter(logInterval);
    }

    public string Resource { get; }

    public long Passed => Interlocked.Read(ref _passed);

    public long Blocked => Interlocked.Read(ref _blocked);

    public long Queued => Interlocked.Read(ref _queued);

    public long ObservedBlocks => Interlocked.Read(ref _observedBlocks);

    public void AddPassed() => Interlocked.Increment(ref _passed);

    public void AddQueued() => Interlocked.Increment(ref _queued);

    public void AddBlocked(Guard guard)
    {
        Interlocked.Increment(ref _blocked);
        Log(guard, "rejected");
    }

    public void AddObservedBlock(Guard guard)
    {
        Interlocked.Increment(ref _observedBlocks);
        Log(guard, "would have rejected (observe mode)");
    }

    private void Log(Guard guard, string verb)
    {
        if (_logLimiter.TryAcquire(out long suppressed))
        {
            _log.Warn("Throttle {Verb} a request to {Resource} ({Kind} {Strategy}); {Suppressed} more since the previous message", verb, Resource, guard.Kind, guard.Strategy, suppressed);
        }
    }
}
