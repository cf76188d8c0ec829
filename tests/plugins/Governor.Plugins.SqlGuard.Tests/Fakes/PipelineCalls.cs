using System.Data.Common;
using Governor.Interception;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>Drives hand-made calls through a real pipeline, as the interception plugin would, with made-up outcomes.</summary>
internal static class PipelineCalls
{
    /// <summary>Returns the rejection of the first handler that rejected, or null when the command "ran" for <paramref name="milliseconds"/>.</summary>
    public static Exception? Run(HandlerPipeline<ISqlHandler> pipeline, SqlCall call, double milliseconds, Exception? error = null)
    {
        var handlers = pipeline.Handlers;
        int ran = 0;
        while (ran < handlers.Length)
        {
            call.HandlerIndex = ran;
            var rejection = handlers[ran++].OnExecuting(call);
            if (rejection is not null)
            {
                Exit(handlers, call, ran, new SqlOutcome(rejection, 0, rejectedByHandler: true));
                return rejection;
            }
        }

        Exit(handlers, call, ran, new SqlOutcome(error, GuardHarness.Ticks(milliseconds), rejectedByHandler: false));
        return null;
    }

    private static void Exit(ISqlHandler[] handlers, SqlCall call, int ran, in SqlOutcome outcome)
    {
        for (int i = ran - 1; i >= 0; i--)
        {
            call.HandlerIndex = i;
            handlers[i].OnExecuted(call, outcome);
        }
    }
}

/// <summary>A call whose every property throws: the guard must let the command run anyway.</summary>
internal sealed class BrokenSqlCall : SqlCall
{
    public override DbCommand Command => throw new InvalidOperationException("broken call");

    public override string CommandText => throw new InvalidOperationException("broken call");

    public override string Provider => throw new InvalidOperationException("broken call");

    public override string? DataSource => throw new InvalidOperationException("broken call");

    public override string? Database => throw new InvalidOperationException("broken call");

    public override SqlExecuteKind Kind => SqlExecuteKind.Scalar;

    public override bool IsAsync => false;
}

/// <summary>A handler that records what it saw and can reject, to sit beside the guard in a pipeline.</summary>
internal sealed class RecordingHandler : ISqlHandler
{
    public Func<SqlCall, Exception?> Decide { get; set; } = _ => null;

    public List<string> Seen { get; } = new();

    public Exception? OnExecuting(SqlCall call)
    {
        call.State = "mine";
        Seen.Add("in");
        return Decide(call);
    }

    public void OnExecuted(SqlCall call, in SqlOutcome outcome)
    {
        // The state slot is private to each handler: the guard's own slot must not leak here.
        Seen.Add(Equals(call.State, "mine") ? "out" : "out:wrong-state");
    }
}
