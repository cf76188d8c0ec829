using Governor.Interception;

namespace Governor.Benchmarks.Interception;

/// <summary>A handler that does nothing and completes synchronously: the cost baseline.</summary>
internal sealed class NoOpHandler : IInboundHandler
{
    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => default;

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
    }
}

internal sealed class NullLogger : IGovernorLogger
{
    public bool IsEnabled(GovernorLogLevel level) => false;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
    }
}
