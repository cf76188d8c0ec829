using System.Data.Common;

namespace Governor.Plugins.AdoNet;

// Replacements for the providers' data reader methods. While no execution waits for its reader
// (no handler subscribed, or every reader closed) they are one check and the original. Otherwise
// a read that throws records the error as its execution's outcome (an exception filter that never
// catches, so the app's exception and stack are untouched) and a close delivers the outcome.

/// <summary><c>DbDataReader.Read()</c> and <c>NextResult()</c> overrides.</summary>
internal static unsafe class ReadDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static bool Run(DbDataReader reader)
    {
        var original = (delegate*<DbDataReader, bool>)Slots.Wait(ref Original);
        var readers = SqlRuntime.Current?.Readers;
        if (readers is null || !readers.Any)
        {
            return original(reader);
        }

        try
        {
            return original(reader);
        }
        catch (Exception ex) when (readers.OnFailed(reader, ex))
        {
            throw;
        }
    }
}

/// <summary><c>DbDataReader.ReadAsync(CancellationToken)</c> and <c>NextResultAsync(CancellationToken)</c> overrides.</summary>
internal static unsafe class ReadAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task<bool> Run(DbDataReader reader, CancellationToken cancellationToken)
    {
        var original = (delegate*<DbDataReader, CancellationToken, Task<bool>>)Slots.Wait(ref Original);
        var readers = SqlRuntime.Current?.Readers;
        if (readers is null || !readers.Any)
        {
            return original(reader, cancellationToken);
        }

        Task<bool> task;
        try
        {
            task = original(reader, cancellationToken);
        }
        catch (Exception ex) when (readers.OnFailed(reader, ex))
        {
            throw;
        }

        return task.IsCompletedSuccessfully ? task : readers.WatchRead(reader, task);
    }
}

/// <summary><c>DbDataReader.Close()</c> overrides.</summary>
internal static unsafe class CloseDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static void Run(DbDataReader reader)
    {
        var original = (delegate*<DbDataReader, void>)Slots.Wait(ref Original);
        var readers = SqlRuntime.Current?.Readers;
        if (readers is null || !readers.Any)
        {
            original(reader);
            return;
        }

        // Closing can raise the errors of results the app did not read (PostgreSQL).
        try
        {
            original(reader);
        }
        catch (Exception ex) when (readers.OnFailed(reader, ex))
        {
            throw;
        }

        readers.OnClosed(reader);
    }
}

/// <summary><c>DbDataReader.Dispose(bool)</c> overrides (Dispose(), and DisposeAsync() where not overridden, end there).</summary>
internal static unsafe class DisposeDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static void Run(DbDataReader reader, bool disposing)
    {
        var original = (delegate*<DbDataReader, bool, void>)Slots.Wait(ref Original);
        var readers = SqlRuntime.Current?.Readers;
        if (readers is null || !readers.Any)
        {
            original(reader, disposing);
            return;
        }

        try
        {
            original(reader, disposing);
        }
        catch (Exception ex) when (readers.OnFailed(reader, ex))
        {
            throw;
        }

        readers.OnClosed(reader);
    }
}

/// <summary><c>DbDataReader.CloseAsync()</c> overrides.</summary>
internal static unsafe class CloseAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static Task Run(DbDataReader reader)
    {
        var original = (delegate*<DbDataReader, Task>)Slots.Wait(ref Original);
        var readers = SqlRuntime.Current?.Readers;
        if (readers is null || !readers.Any)
        {
            return original(reader);
        }

        Task task;
        try
        {
            task = original(reader);
        }
        catch (Exception ex) when (readers.OnFailed(reader, ex))
        {
            throw;
        }

        ReaderClosing.After(readers, reader, task);
        return task;
    }
}

/// <summary><c>DbDataReader.DisposeAsync()</c> overrides.</summary>
internal static unsafe class DisposeAsyncDetour<TSlot>
    where TSlot : struct
{
    internal static nint Original;

    public static ValueTask Run(DbDataReader reader)
    {
        var original = (delegate*<DbDataReader, ValueTask>)Slots.Wait(ref Original);
        var readers = SqlRuntime.Current?.Readers;
        if (readers is null || !readers.Any)
        {
            return original(reader);
        }

        ValueTask pending;
        try
        {
            pending = original(reader);
        }
        catch (Exception ex) when (readers.OnFailed(reader, ex))
        {
            throw;
        }

        if (pending.IsCompletedSuccessfully)
        {
            readers.OnClosed(reader);
            return pending;
        }

        // A ValueTask may be awaited once: hand the app a task that this side also watches.
        var task = pending.AsTask();
        ReaderClosing.After(readers, reader, task);
        return new ValueTask(task);
    }
}

/// <summary>Completes a reader's execution when its asynchronous close ends.</summary>
internal static class ReaderClosing
{
    public static void After(ReaderTracker readers, DbDataReader reader, Task task)
    {
        if (task.IsCompleted)
        {
            Ended(readers, reader, task);
            return;
        }

        task.ContinueWith(static (t, state) =>
        {
            var (tracker, r) = ((ReaderTracker, DbDataReader))state!;
            Ended(tracker, r, t);
        }, (readers, reader), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static void Ended(ReaderTracker readers, DbDataReader reader, Task task)
    {
        if (SqlRuntime.ErrorOf(task) is { } error)
        {
            readers.OnFailed(reader, error);
        }
        else
        {
            readers.OnClosed(reader);
        }
    }
}
