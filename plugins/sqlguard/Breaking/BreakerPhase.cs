namespace Governor.Plugins.SqlGuard.Breaking;

internal enum BreakerState
{
    Closed,
    Open,
    HalfOpen,
}

/// <summary>
/// One stay of a breaker in a state, immutable. A breaker changes state by swapping its phase
/// with a compare-and-swap, so the state, the retry time and the rejection message always go
/// together, exactly one thread wins each transition (and logs it), and a decision taken on a
/// phase that has since ended cannot apply to the next one (every phase is a new object).
/// </summary>
internal class BreakerPhase
{
    public BreakerPhase(BreakerState state)
    {
        State = state;
    }

    public BreakerState State { get; }

    /// <summary>Open: the clock timestamp from which one probe may go.</summary>
    public long RetryTimestamp { get; init; }

    /// <summary>Open: the wall-clock time of <see cref="RetryTimestamp"/>, for messages.</summary>
    public DateTimeOffset RetryAt { get; init; }

    /// <summary>Open: the rejection message (built once per opening, not per rejected command).</summary>
    public string? Message { get; init; }

    /// <summary>Open: the message while a probe is running.</summary>
    public string? ProbingMessage { get; init; }
}

/// <summary>
/// Half-open: one probe command is on its way. The phase object is also the probe's token in
/// the call's state slot, so only the command that started this probe can end it.
/// </summary>
internal sealed class ProbePhase : BreakerPhase
{
    public ProbePhase(CircuitBreaker breaker, BreakerPhase openedBy, long started)
        : base(BreakerState.HalfOpen)
    {
        Breaker = breaker;
        OpenedBy = openedBy;
        Started = started;
    }

    public CircuitBreaker Breaker { get; }

    /// <summary>The Open phase this probe left; restored when the probe never reached the database.</summary>
    public BreakerPhase OpenedBy { get; }

    /// <summary>Clock timestamp when the probe was let through.</summary>
    public long Started { get; }
}
