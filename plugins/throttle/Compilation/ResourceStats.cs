namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// Counters of one resource, kept across hot reloads while the resource stays configured.
/// Updated on the request path without locks and read by status collection.
/// Rejections are logged through a per-resource <see cref="LogRateLimiter"/>, so a flood on
/// one resource becomes one line per interval with the count held back, and cannot hide the
/// first rejection on another resource.
/// </summary>
internal sealed class ResourceStats
{
    private readonly IGovernorLogger _log;
    private readonly LogRateLimiter _logLimiter;
    private readonly StripedCounter _passed = new();
    private readonly StripedCounter _blocked = new();
    private readonly StripedCounter _observedBlocks = new();
    private long _queued;
    private long _abandoned;

    public ResourceStats(string resource, IGovernorLogger log, TimeSpan logInterval)
    {
        Resource = resource;
        _log = log;
        _logLimiter = new LogRateLimiter(logInterval);
    }

    public string Resource { get; }

    public long Passed => _passed.Value;

    public long Blocked => _blocked.Value;

    public long Queued => Interlocked.Read(ref _queued);

    public long ObservedBlocks => _observedBlocks.Value;

    /// <summary>Requests whose caller went away while they waited in the queue.</summary>
    public long Abandoned => Interlocked.Read(ref _abandoned);

    // Passed and blocked are counted on every request (blocked on every request of a flood),
    // so they are striped per core; queued requests wait for a timer anyway.
    public void AddPassed() => _passed.Increment();

    public void AddQueued() => Interlocked.Increment(ref _queued);

    public void AddAbandoned() => Interlocked.Increment(ref _abandoned);

    public void AddBlocked(Guard guard)
    {
        _blocked.Increment();
        Log(guard, "rejected");
    }

    public void AddObservedBlock(Guard guard)
    {
        _observedBlocks.Increment();
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
