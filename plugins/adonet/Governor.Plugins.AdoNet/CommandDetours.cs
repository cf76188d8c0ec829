using System.Data;
using System.Data.Common;
using Governor.Interception;

namespace Governor.Plugins.AdoNet;

// Replacements for the providers' command methods, one generic class per signature shape and one
// instantiation per detoured method (see Slots). They are ordinary methods that tier up like the
// app's code (the engine's generated dispatcher calls them); AggressiveOptimization would make
// their static and thread-static accesses helper calls (measured: +40 ns per call). Each passes straight to the original when no
// handler is subscribed (one static read and a length check), and otherwise runs the pipeline:
// OnExecuting in order (a handler's exception fails the command: thrown for synchronous methods,
// a faulted task for asynchronous ones), the original, then the outcome. The app gets the
// provider's own result or task, except for an asynchronous reader execution still running: then
// a task that completes with the provider's reader (or exception) once the reader is tracked.

/// <summary><c>DbCommand.ExecuteDbDataReader(CommandBehavior)</c> overrides.</summary>
internal static unsafe class DbReaderDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static DbDataReader Run(DbCommand command, CommandBehavior behavior)
    {
        var original = (delegate*<DbCommand, CommandBehavior, DbDataReader>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, behavior);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        SqlRuntime.Enter();
        try
        {
            var reader = original(command, behavior);
            runtime.ReaderExecuted(call, reader);
            return reader;
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

/// <summary><c>DbCommand.ExecuteDbDataReaderAsync(CommandBehavior, CancellationToken)</c> overrides.</summary>
internal static unsafe class DbReaderAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<DbDataReader> Run(DbCommand command, CommandBehavior behavior, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CommandBehavior, CancellationToken, Task<DbDataReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, behavior, cancellationToken);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<DbDataReader>(runtime.Reject(call, rejection));
        }

        Task<DbDataReader> task;
        SqlRuntime.Enter();
        try
        {
            task = original(command, behavior, cancellationToken);
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

        return runtime.WatchReader(call, task);
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
        if (handlers is null)
        {
            return original(command);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.NonQuery, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        SqlRuntime.Enter();
        try
        {
            int result = original(command);
            runtime.Executed(call, null);
            return result;
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

/// <summary><c>DbCommand.ExecuteNonQueryAsync(CancellationToken)</c> overrides.</summary>
internal static unsafe class NonQueryAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<int> Run(DbCommand command, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CancellationToken, Task<int>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, cancellationToken);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.NonQuery, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<int>(runtime.Reject(call, rejection));
        }

        Task<int> task;
        SqlRuntime.Enter();
        try
        {
            task = original(command, cancellationToken);
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

        runtime.Watch(call, task, null);
        return task;
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
        if (handlers is null)
        {
            return original(command);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Scalar, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        SqlRuntime.Enter();
        try
        {
            object? result = original(command);
            runtime.Executed(call, null);
            return result;
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

/// <summary><c>DbCommand.ExecuteScalarAsync(CancellationToken)</c> overrides.</summary>
internal static unsafe class ScalarAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<object?> Run(DbCommand command, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CancellationToken, Task<object?>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, cancellationToken);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Scalar, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<object?>(runtime.Reject(call, rejection));
        }

        Task<object?> task;
        SqlRuntime.Enter();
        try
        {
            task = original(command, cancellationToken);
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

        runtime.Watch(call, task, null);
        return task;
    }
}

/// <summary>
/// A provider's own <c>ExecuteReader()</c>/<c>ExecuteReader(CommandBehavior)</c> returning its
/// reader type (SqliteCommand, NpgsqlCommand, ...): typed calls on the provider's command do not
/// go through <c>DbCommand.ExecuteDbDataReader</c>.
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
        if (handlers is null)
        {
            return original(command);
        }

        return Intercepted(runtime!, handlers, command, original);
    }

    public static TReader RunWithBehavior(DbCommand command, CommandBehavior behavior)
    {
        var original = (delegate*<DbCommand, CommandBehavior, TReader>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, behavior);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        SqlRuntime.Enter();
        try
        {
            var reader = original(command, behavior);
            runtime.ReaderExecuted(call, reader);
            return reader;
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

    private static TReader Intercepted(SqlRuntime runtime, ISqlHandler[] handlers, DbCommand command, delegate*<DbCommand, TReader> original)
    {
        var call = runtime.Begin(command, SqlExecuteKind.Reader, isAsync: false, handlers);
        if (call.Rejection is { } rejection)
        {
            throw runtime.Reject(call, rejection);
        }

        SqlRuntime.Enter();
        try
        {
            var reader = original(command);
            runtime.ReaderExecuted(call, reader);
            return reader;
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
        if (handlers is null)
        {
            return original(command);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<TReader>(runtime.Reject(call, rejection));
        }

        return Watched(runtime, call, StartWith(command, original, runtime, call));
    }

    public static Task<TReader> RunWithToken(DbCommand command, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CancellationToken, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, cancellationToken);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<TReader>(runtime.Reject(call, rejection));
        }

        Task<TReader> task;
        SqlRuntime.Enter();
        try
        {
            task = original(command, cancellationToken);
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

        return Watched(runtime, call, task);
    }

    public static Task<TReader> RunWithBehavior(DbCommand command, CommandBehavior behavior)
    {
        var original = (delegate*<DbCommand, CommandBehavior, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, behavior);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<TReader>(runtime.Reject(call, rejection));
        }

        Task<TReader> task;
        SqlRuntime.Enter();
        try
        {
            task = original(command, behavior);
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

        return Watched(runtime, call, task);
    }

    public static Task<TReader> RunWithBehaviorAndToken(DbCommand command, CommandBehavior behavior, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbCommand, CommandBehavior, CancellationToken, Task<TReader>>)Slots.Wait(ref Original);
        var handlers = SqlRuntime.HandlersFor(out var runtime);
        if (handlers is null)
        {
            return original(command, behavior, cancellationToken);
        }

        var call = runtime!.Begin(command, SqlExecuteKind.Reader, isAsync: true, handlers);
        if (call.Rejection is { } rejection)
        {
            return Task.FromException<TReader>(runtime.Reject(call, rejection));
        }

        Task<TReader> task;
        SqlRuntime.Enter();
        try
        {
            task = original(command, behavior, cancellationToken);
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

        return Watched(runtime, call, task);
    }

    private static Task<TReader> StartWith(DbCommand command, delegate*<DbCommand, Task<TReader>> original, SqlRuntime runtime, AdoSqlCall call)
    {
        SqlRuntime.Enter();
        try
        {
            return original(command);
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

    private static Task<TReader> Watched(SqlRuntime runtime, AdoSqlCall call, Task<TReader> task) => runtime.WatchReader(call, task);
}

/// <summary>Reads the reader out of a completed <c>Task&lt;TReader&gt;</c> (one cached delegate per reader type).</summary>
internal static class ReaderResult<TReader>
    where TReader : DbDataReader
{
    public static readonly Func<Task, DbDataReader?> Get = static task => task.IsCompletedSuccessfully ? ((Task<TReader>)task).Result : null;
}
