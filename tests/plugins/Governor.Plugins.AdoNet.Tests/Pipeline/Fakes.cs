using Governor.Interception;

namespace Governor.Plugins.AdoNet.Tests.Pipeline;

/// <summary>Logs its callbacks into a shared journal and does what it is told.</summary>
internal sealed class ScriptedSqlHandler : ISqlHandler
{
    private readonly string _name;
    private readonly List<string> _journal;

    public ScriptedSqlHandler(string name, List<string> journal)
    {
        _name = name;
        _journal = journal;
    }

    public Exception? Reject { get; set; }

    public bool Throw { get; set; }

    public Action<SqlCall>? OnExecutingSeen { get; set; }

    public List<SqlOutcome> Outcomes { get; } = new();

    public Exception? OnExecuting(SqlCall call)
    {
        _journal.Add($"{_name}.executing");
        OnExecutingSeen?.Invoke(call);
        if (Throw)
        {
            throw new InvalidOperationException($"{_name} failed");
        }

        return Reject;
    }

    public void OnExecuted(SqlCall call, in SqlOutcome outcome)
    {
        _journal.Add($"{_name}.executed:{(outcome.RejectedByHandler ? "rejected" : outcome.Exception is null ? "ok" : "failed")}");
        Outcomes.Add(outcome);
    }
}

internal sealed class NoOpSqlHandler : ISqlHandler
{
    public Exception? OnExecuting(SqlCall call) => null;

    public void OnExecuted(SqlCall call, in SqlOutcome outcome)
    {
    }
}
