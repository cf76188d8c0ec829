using System.Net;
using Governor.Interception;

namespace Governor.Plugins.HttpClient.Tests.Pipeline;

/// <summary>Stands in for the framework's SocketsHttpHandler: answers with a script, counts sends.</summary>
internal sealed class Network
{
    private int _sends;

    public Func<HttpRequestMessage, int, Task<HttpResponseMessage>> Script { get; set; } = (request, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request });

    public int Sends => Volatile.Read(ref _sends);

    public Task<HttpResponseMessage> Send(HttpRequestMessage request) => Script(request, Interlocked.Increment(ref _sends) - 1);
}

internal readonly struct FakeSender : IOutboundSender
{
    private readonly Network _network;

    public FakeSender(Network network) => _network = network;

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => _network.Send(request);

    public HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => _network.Send(request).GetAwaiter().GetResult();
}

/// <summary>A handler that logs its callbacks into a shared journal and does what it is told.</summary>
internal sealed class ScriptedHandler : IOutboundHandler
{
    private readonly string _name;
    private readonly List<string> _journal;

    public ScriptedHandler(string name, List<string> journal)
    {
        _name = name;
        _journal = journal;
    }

    public Func<OutboundCall, HttpResponseMessage?>? Answer { get; set; }

    public Func<OutboundCall, OutboundOutcome, OutboundDecision>? Decide { get; set; }

    public bool ThrowOnRequest { get; set; }

    /// <summary>Rejects the call on purpose with this exception (after <see cref="Delay"/>, if any).</summary>
    public Exception? Reject { get; set; }

    public bool ThrowOnCompleted { get; set; }

    public TimeSpan? Delay { get; set; }

    public List<OutboundOutcome> Outcomes { get; } = new();

    public List<RequestContext?> Contexts { get; } = new();

    public async ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken)
    {
        _journal.Add($"{_name}.request#{call.Attempt}");
        Contexts.Add(call.Context);
        call.State = _name;
        if (ThrowOnRequest)
        {
            throw new InvalidOperationException($"{_name} failed");
        }

        if (Delay is { } delay)
        {
            await Task.Delay(delay, cancellationToken);
        }

        if (Reject is not null)
        {
            throw Reject;
        }

        return Answer?.Invoke(call);
    }

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome)
    {
        // The handler's state slot survived from its request callback.
        _journal.Add($"{_name}.completed#{call.Attempt}:{call.State}");
        Outcomes.Add(outcome);
        if (ThrowOnCompleted)
        {
            throw new InvalidOperationException($"{_name} failed on completion");
        }

        return Decide?.Invoke(call, outcome) ?? OutboundDecision.None;
    }
}

/// <summary>A handler that does nothing, allocation-free (for the allocation test).</summary>
internal sealed class NoOpHandler : IOutboundHandler
{
    public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken) => default;

    public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome) => OutboundDecision.None;
}

/// <summary>A deliberate rejection, as a governance plugin raises it (the throttle's ThrottledException is one).</summary>
internal sealed class RejectedException : HttpRequestException, IGovernorRejection
{
    public RejectedException()
        : base("rejected on purpose", null, HttpStatusCode.TooManyRequests)
    {
    }
}
