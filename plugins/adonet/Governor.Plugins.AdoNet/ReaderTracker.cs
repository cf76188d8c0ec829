using System.Data.Common;
using System.Runtime.CompilerServices;

namespace Governor.Plugins.AdoNet;

/// <summary>
/// The executions whose data reader is still open, so that an error the provider raises while
/// the app reads (SQLite: a later row in Read; PostgreSQL: a later statement in NextResult, or
/// Close consuming the rest) becomes the execution's outcome, and the outcome is delivered when
/// the reader closes. A fixed lock-free table: a reader hashes to a window of slots claimed with
/// compare-exchange. The reader detours only look here when a read throws or a reader closes; a
/// successful Read costs one check of <see cref="Any"/>. When the window is full the execution is
/// completed at once (its later read errors are then not seen); a timer completes entries whose
/// reader was closed behind the detours' back (e.g. by closing the connection) or that stayed
/// open longer than the configured timeout.
/// </summary>
internal sealed class ReaderTracker
{
    private const int Size = 1024;
    private const int Window = 16;

    private readonly SqlRuntime _runtime;
    private readonly long _timeoutMilliseconds;
    private readonly AdoSqlCall?[] _slots = new AdoSqlCall?[Size];
    private int _count;

    public ReaderTracker(SqlRuntime runtime, long timeoutMilliseconds)
    {
        _runtime = runtime;
        _timeoutMilliseconds = timeoutMilliseconds;
    }

    /// <summary>True while some execution waits for its reader: only then do the reader detours do anything.</summary>
    public bool Any
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref _count) != 0;
    }

    public int Count => Volatile.Read(ref _count);

    public bool Track(AdoSqlCall call, DbDataReader reader)
    {
        call.Reader = reader;
        // A coarse clock (no vDSO call): only the sweeper's age limit reads it.
        call.TrackedAt = Environment.TickCount64;
        int start = RuntimeHelpers.GetHashCode(reader);
        for (int i = 0; i < Window; i++)
        {
            int index = (start + i) & (Size - 1);
            if (Volatile.Read(ref _slots[index]) is null && Interlocked.CompareExchange(ref _slots[index], call, null) is null)
            {
                Interlocked.Increment(ref _count);
                return true;
            }
        }

        call.Reader = null;
        return false;
    }

    /// <summary>For exception filters: records the error as the outcome of the reader's execution; never catches.</summary>
    public bool OnFailed(DbDataReader reader, Exception error)
    {
        try
        {
            if (Take(reader) is { } call)
            {
                _runtime.ReaderEnded(call, error);
            }
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "recording a data reader error");
        }

        return false;
    }

    public void OnClosed(DbDataReader reader)
    {
        try
        {
            if (Take(reader) is { } call)
            {
                _runtime.ReaderEnded(call, null);
            }
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "completing a closed data reader's execution");
        }
    }

    /// <summary>
    /// An asynchronous read that has not completed: for a tracked reader, the app gets a task that
    /// records a failure as the execution's outcome before the app sees it (the app typically
    /// disposes the reader right away, which would otherwise deliver the outcome first, without
    /// the error). The exception filter never catches: the app gets the provider's exception.
    /// </summary>
    public Task<bool> WatchRead(DbDataReader reader, Task<bool> task)
    {
        if (task.IsCompleted)
        {
            if (SqlRuntime.ErrorOf(task) is { } error)
            {
                OnFailed(reader, error);
            }

            return task;
        }

        return Find(reader) ? Observed(reader, task) : task;
    }

    private async Task<bool> Observed(DbDataReader reader, Task<bool> task)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (OnFailed(reader, ex))
        {
            throw;
        }
    }

    /// <summary>Completes entries whose reader is closed or too old (timer thread, about once a second).</summary>
    public void Sweep()
    {
        if (!Any)
        {
            return;
        }

        long now = Environment.TickCount64;
        for (int i = 0; i < Size; i++)
        {
            var call = Volatile.Read(ref _slots[i]);
            if (call?.Reader is not { } reader)
            {
                continue;
            }

            bool closed;
            try
            {
                closed = reader.IsClosed;
            }
            catch (Exception)
            {
                closed = true;
            }

            // Re-checked just before the exchange: the entry may have been taken and its pooled call
            // reused meanwhile (then the exchange or the reader comparison fails).
            if ((closed || now - call.TrackedAt > _timeoutMilliseconds) && ReferenceEquals(call.Reader, reader)
                && Interlocked.CompareExchange(ref _slots[i], null, call) == call)
            {
                Interlocked.Decrement(ref _count);
                try
                {
                    _runtime.ReaderEnded(call, null);
                }
                catch (Exception ex)
                {
                    _runtime.Failed(ex, "completing an execution whose reader was closed elsewhere");
                }
            }
        }
    }

    private bool Find(DbDataReader reader)
    {
        int start = RuntimeHelpers.GetHashCode(reader);
        for (int i = 0; i < Window; i++)
        {
            if (ReferenceEquals(Volatile.Read(ref _slots[(start + i) & (Size - 1)])?.Reader, reader))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Removes the reader's entry; the compare-exchange makes exactly one caller its owner.</summary>
    private AdoSqlCall? Take(DbDataReader reader)
    {
        int start = RuntimeHelpers.GetHashCode(reader);
        for (int i = 0; i < Window; i++)
        {
            int index = (start + i) & (Size - 1);
            var call = Volatile.Read(ref _slots[index]);
            if (call is not null && ReferenceEquals(call.Reader, reader) && Interlocked.CompareExchange(ref _slots[index], null, call) == call)
            {
                Interlocked.Decrement(ref _count);
                return call;
            }
        }

        return null;
    }
}
