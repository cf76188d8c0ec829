namespace Governor.Interception;

/// <summary>
/// Base of the per-call objects the interception plugins hand to handlers. Providers may pool
/// them: a handler must not keep a reference after its completion callback returns.
/// Each handler has one private state slot (<see cref="State"/>) to carry a value from its
/// request callback to its completion callback without allocating.
/// </summary>
public abstract class InterceptedCall
{
    private readonly object?[] _state = new object?[HandlerPipeline<object>.MaxHandlers];

    /// <summary>Set by the provider before each handler runs: the handler's index in the snapshot.</summary>
    public int HandlerIndex { get; set; }

    /// <summary>The current handler's private slot for this call.</summary>
    public object? State
    {
        get => _state[HandlerIndex];
        set => _state[HandlerIndex] = value;
    }

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp when the call entered the pipeline.</summary>
    public long StartTimestamp { get; set; }

    /// <summary>Clears per-call state; called by providers that pool call objects.</summary>
    protected void ResetState()
    {
        Array.Clear(_state);
        HandlerIndex = 0;
        StartTimestamp = 0;
    }

    /// <summary>
    /// Clears the state of the first <paramref name="handlerCount"/> handlers only (the others
    /// never ran for this call, so their slots are still clear): cheaper for pooled calls.
    /// </summary>
    protected void ResetState(int handlerCount)
    {
        Array.Clear(_state, 0, Math.Min(Math.Max(handlerCount, 0), _state.Length));
        HandlerIndex = 0;
        StartTimestamp = 0;
    }
}
