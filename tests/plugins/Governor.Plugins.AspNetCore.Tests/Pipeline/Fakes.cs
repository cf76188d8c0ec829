using Governor.Interception;

namespace Governor.Plugins.AspNetCore.Tests.Pipeline;

/// <summary>A handler that records what it sees into a shared journal and can answer, throw or go async.</summary>
internal sealed class FakeHandler : IInboundHandler
{
    private readonly string _name;
    private readonly List<string> _journal;

    public FakeHandler(string name, List<string> journal)
    {
        _name = name;
        _journal = journal;
    }

    public InboundResponse? Answer { get; init; }

    public bool ThrowOnRequest { get; init; }

    public bool Async { get; init; }

    public Action<InboundCall>? OnRequest { get; init; }

    public List<InboundOutcome> Outcomes { get; } = new();

    public List<string?> RoutesAtCompletion { get; } = new();

    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call)
    {
        _journal.Add($"{_name}.request#{call.HandlerIndex}");
        call.State = _name;
        OnRequest?.Invoke(call);
        if (ThrowOnRequest)
        {
            throw new InvalidOperationException($"{_name} broke");
        }

        return Async ? Later(Answer) : new ValueTask<InboundResponse?>(Answer);
    }

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
        _journal.Add($"{_name}.completed#{call.HandlerIndex} state={call.State}");
        Outcomes.Add(outcome);
        RoutesAtCompletion.Add(call.RouteTemplate);
    }

    private static async ValueTask<InboundResponse?> Later(InboundResponse? answer)
    {
        await Task.Delay(5);
        return answer;
    }
}

/// <summary>A no-op handler that completes synchronously: the cost baseline.</summary>
internal sealed class NoOpHandler : IInboundHandler
{
    public ValueTask<InboundResponse?> OnRequestAsync(InboundCall call) => default;

    public void OnCompleted(InboundCall call, in InboundOutcome outcome)
    {
    }
}

/// <summary>A logger that keeps what it is given.</summary>
internal sealed class ListLogger : IGovernorLogger
{
    public List<string> Lines { get; } = new();

    public bool IsEnabled(GovernorLogLevel level) => true;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
        lock (Lines)
        {
            Lines.Add($"{level} {messageTemplate} {exception?.Message}");
        }
    }
}
