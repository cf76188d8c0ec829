using System.Data.Common;
using System.Diagnostics;
using Governor.Interception;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>
/// A stand-in for the ADO.NET interception plugin: executes real commands through the real
/// <see cref="HandlerPipeline{THandler}"/> the way the contract describes — handlers in order on
/// the way in, each with its state slot; a rejection is thrown for synchronous executions and
/// returned as a faulted task for asynchronous ones, without touching the database; outcomes in
/// reverse order to every handler whose OnExecuting ran.
/// </summary>
internal sealed class SqlPipelineDriver
{
    private readonly HandlerPipeline<ISqlHandler> _pipeline;

    public SqlPipelineDriver(HandlerPipeline<ISqlHandler> pipeline) => _pipeline = pipeline;

    public object? Execute(DbCommand command, SqlExecuteKind kind = SqlExecuteKind.Scalar)
    {
        var call = new DriverCall(command, kind, isAsync: false);
        var handlers = _pipeline.Handlers;
        var rejection = Enter(handlers, call, out int ran);
        if (rejection is not null)
        {
            throw rejection;
        }

        try
        {
            object? result = kind switch
            {
                SqlExecuteKind.NonQuery => command.ExecuteNonQuery(),
                SqlExecuteKind.Reader => ReadAll(command),
                _ => command.ExecuteScalar(),
            };
            Exit(handlers, call, ran, new SqlOutcome(null, Stopwatch.GetTimestamp() - call.StartTimestamp, false));
            return result;
        }
        catch (Exception ex)
        {
            Exit(handlers, call, ran, new SqlOutcome(ex, Stopwatch.GetTimestamp() - call.StartTimestamp, false));
            throw;
        }
    }

    /// <summary>Never throws synchronously: a rejection comes back as an already-faulted task.</summary>
    public Task<object?> ExecuteAsync(DbCommand command, SqlExecuteKind kind = SqlExecuteKind.Scalar, CancellationToken cancellationToken = default)
    {
        var call = new DriverCall(command, kind, isAsync: true);
        var handlers = _pipeline.Handlers;
        var rejection = Enter(handlers, call, out int ran);
        return rejection is not null ? Task.FromException<object?>(rejection) : RunAsync(command, kind, call, handlers, ran, cancellationToken);
    }

    private static async Task<object?> RunAsync(DbCommand command, SqlExecuteKind kind, DriverCall call, ISqlHandler[] handlers, int ran, CancellationToken cancellationToken)
    {
        try
        {
            object? result = kind switch
            {
                SqlExecuteKind.NonQuery => await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false),
                SqlExecuteKind.Reader => await ReadAllAsync(command, cancellationToken).ConfigureAwait(false),
                _ => await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false),
            };
            Exit(handlers, call, ran, new SqlOutcome(null, Stopwatch.GetTimestamp() - call.StartTimestamp, false));
            return result;
        }
        catch (Exception ex)
        {
            Exit(handlers, call, ran, new SqlOutcome(ex, Stopwatch.GetTimestamp() - call.StartTimestamp, false));
            throw;
        }
    }

    private static Exception? Enter(ISqlHandler[] handlers, DriverCall call, out int ran)
    {
        call.StartTimestamp = Stopwatch.GetTimestamp();
        for (ran = 0; ran < handlers.Length;)
        {
            call.HandlerIndex = ran;
            var rejection = handlers[ran++].OnExecuting(call);
            if (rejection is not null)
            {
                Exit(handlers, call, ran, new SqlOutcome(rejection, Stopwatch.GetTimestamp() - call.StartTimestamp, rejectedByHandler: true));
                return rejection;
            }
        }

        return null;
    }

    private static void Exit(ISqlHandler[] handlers, DriverCall call, int ran, in SqlOutcome outcome)
    {
        for (int i = ran - 1; i >= 0; i--)
        {
            call.HandlerIndex = i;
            handlers[i].OnExecuted(call, outcome);
        }
    }

    private static int ReadAll(DbCommand command)
    {
        using var reader = command.ExecuteReader();
        int rows = 0;
        while (reader.Read())
        {
            rows++;
        }

        return rows;
    }

    private static async Task<object?> ReadAllAsync(DbCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        int rows = 0;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows++;
        }

        return rows;
    }

    private sealed class DriverCall : SqlCall
    {
        private readonly DbCommand _command;

        public DriverCall(DbCommand command, SqlExecuteKind kind, bool isAsync)
        {
            _command = command;
            Kind = kind;
            IsAsync = isAsync;
            Provider = command.GetType().Assembly.GetName().Name ?? "unknown";
            Context = RequestContext.Current;
        }

        public override DbCommand Command => _command;

        public override string CommandText => _command.CommandText;

        public override string Provider { get; }

        public override string? DataSource => _command.Connection?.DataSource;

        public override string? Database => _command.Connection?.Database;

        public override SqlExecuteKind Kind { get; }

        public override bool IsAsync { get; }
    }
}

/// <summary>The plugin started on a fake context with real time, and a driver on its pipeline: what the real-database tests run against.</summary>
internal sealed record GuardedPipeline(FakePluginContext Context, SqlPipelineDriver Driver)
{
    public static GuardedPipeline Start(string rulesYaml, IReadOnlyDictionary<string, string>? settings = null)
    {
        var context = new FakePluginContext(TestRules.Parse(rulesYaml), settings);
        new SqlGuardPlugin().Start(context, TimeProvider.System);
        return new GuardedPipeline(context, new SqlPipelineDriver(context.Interception.Sql));
    }

    public RecordingCollector Status() => RecordingCollector.From(Context.StatusProviders[0]);
}
