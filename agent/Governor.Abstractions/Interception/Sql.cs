using System.Data.Common;

namespace Governor.Interception;

/// <summary>A governance handler for ADO.NET command executions (any provider).</summary>
public interface ISqlHandler
{
    /// <summary>
    /// Sees the command before it reaches the database. Return null to let it run, or an
    /// exception to fail it without reaching the database (thrown for synchronous executions,
    /// returned as a faulted task for asynchronous ones). Prefer an exception derived from
    /// <see cref="DbException"/> so that the app's existing handling sees a database error.
    /// </summary>
    Exception? OnExecuting(SqlCall call);

    /// <summary>Sees the outcome, in reverse order, for every handler whose <see cref="OnExecuting"/> ran.</summary>
    void OnExecuted(SqlCall call, in SqlOutcome outcome);
}

public enum SqlExecuteKind
{
    Reader,
    NonQuery,
    Scalar,
}

/// <summary>One command execution as handlers see it.</summary>
public abstract class SqlCall : InterceptedCall
{
    public abstract DbCommand Command { get; }

    public abstract string CommandText { get; }

    /// <summary>The provider, e.g. "Npgsql" or "Microsoft.Data.Sqlite" (the command type's assembly name).</summary>
    public abstract string Provider { get; }

    /// <summary>The connection's data source (server or file), or null.</summary>
    public abstract string? DataSource { get; }

    /// <summary>The connection's database, or null.</summary>
    public abstract string? Database { get; }

    public abstract SqlExecuteKind Kind { get; }

    public abstract bool IsAsync { get; }

    /// <summary>The context of the inbound request that caused this command, or null.</summary>
    public RequestContext? Context { get; protected set; }
}

/// <summary>How a command execution ended.</summary>
public readonly struct SqlOutcome
{
    public SqlOutcome(Exception? exception, long elapsedTicks, bool rejectedByHandler)
    {
        Exception = exception;
        ElapsedTicks = elapsedTicks;
        RejectedByHandler = rejectedByHandler;
    }

    public Exception? Exception { get; }

    public long ElapsedTicks { get; }

    public TimeSpan Elapsed => TimeSpan.FromSeconds(ElapsedTicks / (double)System.Diagnostics.Stopwatch.Frequency);

    /// <summary>True when a handler failed the command before it reached the database.</summary>
    public bool RejectedByHandler { get; }
}
