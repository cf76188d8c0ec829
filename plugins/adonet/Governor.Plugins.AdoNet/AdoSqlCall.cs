using System.Data.Common;
using System.Diagnostics;
using Governor.Interception;

namespace Governor.Plugins.AdoNet;

/// <summary>
/// One command execution as handlers see it. Pooled: rented when an intercepted execution starts
/// and returned after the handlers saw its outcome (for readers: when the reader is closed or
/// fails), so the common path allocates nothing. What handlers may not ask for is not read: the
/// text, the provider and the connection are read from the command on first use and kept, so a
/// deferred outcome still describes this execution if the app reuses the command afterwards.
/// </summary>
internal sealed class AdoSqlCall : SqlCall
{
    private DbCommand? _command;
    private DbConnection? _connection;
    private bool _connectionRead;
    private string? _text;
    private string? _provider;
    private SqlExecuteKind _kind;
    private bool _async;

    public AdoSqlCall()
    {
        OnTaskCompleted = () => Runtime?.TaskCompleted(this);
    }

    public override DbCommand Command => _command ?? throw new InvalidOperationException("The call is not in use (a handler kept it after OnExecuted).");

    public override string CommandText => _text ??= _command?.CommandText ?? string.Empty;

    public override string Provider => _provider ??= _command is null ? string.Empty : CommandTypes.Of(_command.GetType()).Provider;

    public override string? DataSource
    {
        get
        {
            try
            {
                return Connection()?.DataSource;
            }
            catch (Exception)
            {
                // A provider's property must not fail a handler (e.g. a disposed connection).
                return null;
            }
        }
    }

    public override string? Database
    {
        get
        {
            try
            {
                return Connection()?.Database;
            }
            catch (Exception)
            {
                return null;
            }
        }
    }

    public override SqlExecuteKind Kind => _kind;

    public override bool IsAsync => _async;

    public SqlRuntime? Runtime { get; private set; }

    /// <summary>The handler snapshot this execution runs with, and how many saw it.</summary>
    public ISqlHandler[] Handlers { get; private set; } = Array.Empty<ISqlHandler>();

    public int Ran { get; set; }

    /// <summary>The exception a handler failed the command with.</summary>
    public Exception? Rejection { get; set; }

    /// <summary>Stopwatch ticks from the start to the execute call's return (for readers: the first result).</summary>
    public long ExecutedTicks { get; set; }

    /// <summary>The reader whose close or failure ends this execution.</summary>
    public DbDataReader? Reader { get; set; }

    /// <summary>When the reader was tracked (Environment.TickCount64, for the sweeper's age limit).</summary>
    public long TrackedAt { get; set; }

    /// <summary>The provider's task while an async execution runs.</summary>
    public Task? Pending { get; set; }

    /// <summary>Reads the reader out of a completed reader task (its type differs per provider).</summary>
    public Func<Task, DbDataReader?>? ReaderOf { get; set; }

    /// <summary>Runs when <see cref="Pending"/> completes; one delegate per pooled object.</summary>
    public Action OnTaskCompleted { get; }

    /// <summary>Whether durations are measured for this execution (a subscriber wants them).</summary>
    public bool Measure { get; private set; }

    /// <summary>Ticks since <see cref="InterceptedCall.StartTimestamp"/>, or 0 when this execution does not measure.</summary>
    public long Elapsed() => Measure ? Stopwatch.GetTimestamp() - StartTimestamp : 0;

    public void Begin(SqlRuntime runtime, DbCommand command, SqlExecuteKind kind, bool isAsync, ISqlHandler[] handlers, bool measure)
    {
        Runtime = runtime;
        _command = command;
        _kind = kind;
        _async = isAsync;
        Handlers = handlers;
        Context = RequestContext.Current;
        Measure = measure;
    }

    /// <summary>The command's connection, read once (null for commands that do not expose it).</summary>
    private DbConnection? Connection()
    {
        if (_connectionRead || _command is null)
        {
            return _connection;
        }

        _connectionRead = true;
        var facts = CommandTypes.Of(_command.GetType());
        if (facts.ConnectionHidden)
        {
            return null;
        }

        try
        {
            _connection = _command.Connection;
        }
        catch (Exception)
        {
            facts.ConnectionHidden = true;
        }

        return _connection;
    }

    public void Reset()
    {
        // Only the handlers that ran can have used their state slots.
        ResetState(Ran);
        Runtime = null;
        _command = null;
        _connection = null;
        _connectionRead = false;
        _text = null;
        _provider = null;
        Handlers = Array.Empty<ISqlHandler>();
        Ran = 0;
        Rejection = null;
        ExecutedTicks = 0;
        Reader = null;
        TrackedAt = 0;
        Pending = null;
        ReaderOf = null;
        Context = null;
        Measure = false;
    }
}

/// <summary>
/// What the pipeline needs to know per command type, computed once (a tiny copy-on-write cache:
/// apps use one or two command types): the provider name — the command type's assembly name,
/// "Microsoft.Data.Sqlite", "Npgsql", ... — and whether the type refuses access to its
/// connection (commands created from a DbDataSource, e.g. NpgsqlDataSource.CreateCommand, throw
/// NotSupportedException: they get their connection only when they execute).
/// </summary>
internal sealed class CommandTypes
{
    private static CommandTypes[] s_known = Array.Empty<CommandTypes>();

    private CommandTypes(Type type, string provider)
    {
        Type = type;
        Provider = provider;
    }

    public Type Type { get; }

    public string Provider { get; }

    /// <summary>Set once the type threw for its connection: it is not asked again (an exception per command would be costly).</summary>
    public bool ConnectionHidden { get; set; }

    public static CommandTypes Of(Type type)
    {
        var known = Volatile.Read(ref s_known);
        for (int i = 0; i < known.Length; i++)
        {
            if (ReferenceEquals(known[i].Type, type))
            {
                return known[i];
            }
        }

        var facts = new CommandTypes(type, type.Assembly.GetName().Name ?? type.Assembly.FullName ?? "?");
        var grown = new CommandTypes[known.Length + 1];
        known.CopyTo(grown, 0);
        grown[^1] = facts;
        // A lost race only computes the facts of a type once more.
        Interlocked.CompareExchange(ref s_known, grown, known);
        return facts;
    }
}
