using System.Data;
using System.Data.Common;
using Governor.Interception;

namespace Governor.Plugins.AdoNet;

// Replacements for the providers' command methods, one generic class per signature shape and one
// instantiation per detoured method (see Slots). Each passes straight to the original when no
// handler is subscribed (one static read, one thread-static read and a length check), and otherwise
// runs the pipeline in SqlExecution. They are ordinary methods that tier up like the app's code
// (the engine's generated dispatcher calls them); AggressiveOptimization would make their static
// and thread-static accesses helper calls (measured: +35 ns per call).

/// <summary><c>DbCommand.ExecuteDbDataReader(CommandBehavior)</c> overrides.</summary>
internal static unsafe class DbReaderDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static DbDataReader Run(DbCommand command, CommandBehavior behavior)
    {
        var original = (delegate*<DbCommand, CommandBehavior, DbDataReader>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, behavior)
            : SqlExecution.Reader<WithBehavior<DbDataReader>, DbDataReader>(runtime!, handlers, command, new WithBehavior<DbDataReader>(original, command, behavior));
    }
}

/// <summary><c>DbCommand.ExecuteDbDataReaderAsync(CommandBehavior, CancellationToken)</c> overrides.</summary>
internal static unsafe class DbReaderAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<DbDataReader> Run(DbCommand command, CommandBehavior behavior, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CommandBehavior, CancellationToken, Task<DbDataReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, behavior, cancellationToken)
            : SqlExecution.ReaderAsync<WithBehaviorAndToken<Task<DbDataReader>>, DbDataReader>(runtime!, handlers, command, new WithBehaviorAndToken<Task<DbDataReader>>(original, command, behavior, cancellationToken));
    }
}

/// <summary><c>DbCommand.ExecuteNonQuery()</c> overrides.</summary>
internal static unsafe class NonQueryDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static int Run(DbCommand command)
    {
        var original = (delegate*<DbCommand, int>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command)
            : SqlExecution.Value<Plain<int>, int>(runtime!, handlers, command, SqlExecuteKind.NonQuery, new Plain<int>(original, command));
    }
}

/// <summary><c>DbCommand.ExecuteNonQueryAsync(CancellationToken)</c> overrides.</summary>
internal static unsafe class NonQueryAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<int> Run(DbCommand command, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CancellationToken, Task<int>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, cancellationToken)
            : SqlExecution.ValueAsync<WithToken<Task<int>>, int>(runtime!, handlers, command, SqlExecuteKind.NonQuery, new WithToken<Task<int>>(original, command, cancellationToken));
    }
}

/// <summary><c>DbCommand.ExecuteScalar()</c> overrides.</summary>
internal static unsafe class ScalarDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static object? Run(DbCommand command)
    {
        var original = (delegate*<DbCommand, object?>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command)
            : SqlExecution.Value<Plain<object?>, object?>(runtime!, handlers, command, SqlExecuteKind.Scalar, new Plain<object?>(original, command));
    }
}

/// <summary><c>DbCommand.ExecuteScalarAsync(CancellationToken)</c> overrides.</summary>
internal static unsafe class ScalarAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<object?> Run(DbCommand command, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CancellationToken, Task<object?>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, cancellationToken)
            : SqlExecution.ValueAsync<WithToken<Task<object?>>, object?>(runtime!, handlers, command, SqlExecuteKind.Scalar, new WithToken<Task<object?>>(original, command, cancellationToken));
    }
}

/// <summary>
/// A provider's own <c>ExecuteReader()</c>/<c>ExecuteReader(CommandBehavior)</c> returning its
/// reader type (SqliteCommand, NpgsqlCommand, ...): typed calls on the provider's command do not
/// go through <c>DbCommand.ExecuteDbDataReader</c>. One entry per overload; each detoured method
/// uses its own instantiation, so they never share <see cref="Original"/>.
/// </summary>
internal static unsafe class TypedReaderDetour<TSlot, TReader>
    where TSlot : struct
    where TReader : DbDataReader
{
    internal static nint Original;

    public static TReader Run(DbCommand command)
    {
        var original = (delegate*<DbCommand, TReader>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command)
            : SqlExecution.Reader<Plain<TReader>, TReader>(runtime!, handlers, command, new Plain<TReader>(original, command));
    }

    public static TReader RunWithBehavior(DbCommand command, CommandBehavior behavior)
    {
        var original = (delegate*<DbCommand, CommandBehavior, TReader>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, behavior)
            : SqlExecution.Reader<WithBehavior<TReader>, TReader>(runtime!, handlers, command, new WithBehavior<TReader>(original, command, behavior));
    }
}

/// <summary>A provider's own <c>ExecuteReaderAsync</c> overloads returning <c>Task&lt;its reader&gt;</c>.</summary>
internal static unsafe class TypedReaderAsyncDetour<TSlot, TReader>
    where TSlot : struct
    where TReader : DbDataReader
{
    internal static nint Original;

    public static Task<TReader> Run(DbCommand command)
    {
        var original = (delegate*<DbCommand, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command)
            : SqlExecution.ReaderAsync<Plain<Task<TReader>>, TReader>(runtime!, handlers, command, new Plain<Task<TReader>>(original, command));
    }

    public static Task<TReader> RunWithToken(DbCommand command, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CancellationToken, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, cancellationToken)
            : SqlExecution.ReaderAsync<WithToken<Task<TReader>>, TReader>(runtime!, handlers, command, new WithToken<Task<TReader>>(original, command, cancellationToken));
    }

    public static Task<TReader> RunWithBehavior(DbCommand command, CommandBehavior behavior)
    {
        var original = (delegate*<DbCommand, CommandBehavior, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, behavior)
            : SqlExecution.ReaderAsync<WithBehavior<Task<TReader>>, TReader>(runtime!, handlers, command, new WithBehavior<Task<TReader>>(original, command, behavior));
    }

    public static Task<TReader> RunWithBehaviorAndToken(DbCommand command, CommandBehavior behavior, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CommandBehavior, CancellationToken, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        return handlers is null
            ? original(command, behavior, cancellationToken)
            : SqlExecution.ReaderAsync<WithBehaviorAndToken<Task<TReader>>, TReader>(runtime!, handlers, command, new WithBehaviorAndToken<Task<TReader>>(original, command, behavior, cancellationToken));
    }
}

/// <summary>Reads the reader out of a completed <c>Task&lt;TReader&gt;</c> (one cached delegate per reader type).</summary>
internal static class ReaderResult<TReader>
    where TReader : DbDataReader
{
    public static readonly Func<Task, DbDataReader?> Get = static task => task.IsCompletedSuccessfully ? ((Task<TReader>)task).Result : null;
}

/// <summary>A provider's original method with its arguments, called by <see cref="SqlExecution"/> (a struct: no allocation).</summary>
internal interface IOriginal<out TResult>
{
    TResult Invoke();
}

internal readonly unsafe struct Plain<TResult> : IOriginal<TResult>
{
    private readonly delegate*<DbCommand, TResult> _original;
    private readonly DbCommand _command;

    public Plain(delegate*<DbCommand, TResult> original, DbCommand command)
    {
        _original = original;
        _command = command;
    }

    public TResult Invoke() => _original(_command);
}

internal readonly unsafe struct WithBehavior<TResult> : IOriginal<TResult>
{
    private readonly delegate*<DbCommand, CommandBehavior, TResult> _original;
    private readonly DbCommand _command;
    private readonly CommandBehavior _behavior;

    public WithBehavior(delegate*<DbCommand, CommandBehavior, TResult> original, DbCommand command, CommandBehavior behavior)
    {
        _original = original;
        _command = command;
        _behavior = behavior;
    }

    public TResult Invoke() => _original(_command, _behavior);
}

internal readonly unsafe struct WithToken<TResult> : IOriginal<TResult>
{
    private readonly delegate*<DbCommand, CancellationToken, TResult> _original;
    private readonly DbCommand _command;
    private readonly CancellationToken _cancellationToken;

    public WithToken(delegate*<DbCommand, CancellationToken, TResult> original, DbCommand command, CancellationToken cancellationToken)
    {
        _original = original;
        _command = command;
        _cancellationToken = cancellationToken;
    }

    public TResult Invoke() => _original(_command, _cancellationToken);
}

internal readonly unsafe struct WithBehaviorAndToken<TResult> : IOriginal<TResult>
{
    private readonly delegate*<DbCommand, CommandBehavior, CancellationToken, TResult> _original;
    private readonly DbCommand _command;
    private readonly CommandBehavior _behavior;
    private readonly CancellationToken _cancellationToken;

    public WithBehaviorAndToken(delegate*<DbCommand, CommandBehavior, CancellationToken, TResult> original, DbCommand command, CommandBehavior behavior, CancellationToken cancellationToken)
    {
        _original = original;
        _command = command;
        _behavior = behavior;
        _cancellationToken = cancellationToken;
    }

    public TResult Invoke() => _original(_command, _behavior, _cancellationToken);
}

/// <summary>
/// One intercepted execution: <see cref="ISqlHandler.OnExecuting"/> in order (an exception a
/// handler returns fails the command: thrown for synchronous methods, a faulted task for
/// asynchronous ones), the original inside the nesting guard, then the outcome. The app gets the
/// provider's own result or task, except for an asynchronous reader execution still running:
/// then a task that completes with the provider's reader (or exception) once the reader is tracked.
/// </summary>
internal static class SqlExecution
{
    public static TResult Value<TOriginal, TResult>(SqlRuntime runtime, ISqlHandler[] handlers, DbCommand command, SqlExecuteKind kind, TOriginal original)
        where TOriginal : struct, IOriginal<TResult>
    {
        var call = runtime.Begin(command, kind, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        var result = Invoke<TOriginal, TResult>(runtime, call, original);
        runtime.Executed(call, null);
        return result;
    }

    public static TReader Reader<TOriginal, TReader>(SqlRuntime runtime, ISqlHandler[] handlers, DbCommand command, TOriginal original)
        where TOriginal : struct, IOriginal<TReader>
        where TReader : DbDataReader
    {
        var call = runtime.Begin(command, SqlExecuteKind.Reader, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        var reader = Invoke<TOriginal, TReader>(runtime, call, original);
        runtime.ReaderExecuted(call, reader);
        return reader;
    }

    public static Task<TResult> ValueAsync<TOriginal, TResult>(SqlRuntime runtime, ISqlHandler[] handlers, DbCommand command, SqlExecuteKind kind, TOriginal original)
        where TOriginal : struct, IOriginal<Task<TResult>>
    {
        var call = runtime.Begin(command, kind, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<TResult>(runtime.Reject(call, rejection));
        }

        var task = Invoke<TOriginal, Task<TResult>>(runtime, call, original);
        runtime.Watch(call, task, null);
        return task;
    }

    public static Task<TReader> ReaderAsync<TOriginal, TReader>(SqlRuntime runtime, ISqlHandler[] handlers, DbCommand command, TOriginal original)
        where TOriginal : struct, IOriginal<Task<TReader>>
        where TReader : DbDataReader
    {
        var call = runtime.Begin(command, SqlExecuteKind.Reader, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<TReader>(runtime.Reject(call, rejection));
        }

        return runtime.WatchReader(call, Invoke<TOriginal, Task<TReader>>(runtime, call, original));
    }

    /// <summary>
    /// The original, with nested provider calls on this thread passing through. A synchronous
    /// throw (also from an async method) is the outcome and goes to the app unchanged.
    /// </summary>
    private static TResult Invoke<TOriginal, TResult>(SqlRuntime runtime, AdoSqlCall call, TOriginal original)
        where TOriginal : struct, IOriginal<TResult>
    {
        SqlRuntime.Enter();
        try
        {
            return original.Invoke();
        }
        catch (Exception ex)
        {
            runtime.Executed(call, ex);
            throw;
        }
        finally
        {
            SqlRuntime.Exit();
        }
    }
}
