using System.Data.Common;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Governor.Interception;
using Governor.Status;

namespace Governor.Plugins.AdoNet;

/// <summary>
/// The SQL pipeline shared by every detour: handler snapshot, call pool, reader tracking,
/// counters and the fail-open log. The replacements are static methods (the patch engine calls
/// them in place of the providers' code), so they reach the running plugin through
/// <see cref="Current"/>; null while the plugin is stopped, and then everything passes through.
/// </summary>
internal sealed class SqlRuntime : IStatusProvider, IDisposable
{
    private static SqlRuntime? s_current;

    // Executions already intercepted on this thread (the synchronous part of a provider's method):
    // a provider method that calls another one (SqliteCommand.ExecuteNonQuery calls ExecuteReader,
    // DbCommand wrappers call the inner command) is one execution, seen once, at the outermost call.
    [ThreadStatic]
    private static int t_depth;

    private readonly LogRateLimiter _failures = new(TimeSpan.FromSeconds(10));
    private readonly IGovernorLogger _log;
    private readonly Timer _sweeper;
    private CallPool<AdoSqlCall>? _calls;
    private ReaderTracker? _readers;
    private readonly long _readerTimeoutMilliseconds;
    private long _rejected;
    private long _failed;
    private long _readerErrors;
    private long _handlerFailures;

    public SqlRuntime(HandlerPipeline<ISqlHandler> pipeline, IGovernorLogger log, TimeSpan readerTimeout)
    {
        Pipeline = pipeline;
        _log = log;
        _readerTimeoutMilliseconds = (long)readerTimeout.TotalMilliseconds;
        _sweeper = new Timer(static state => ((SqlRuntime)state!).SweepReaders(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int OpenReaders(ReaderTracker readers) => readers.Count;

    private void SweepReaders()
    {
        if (Volatile.Read(ref _readers) is { } readers)
        {
            Sweep(readers);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Sweep(ReaderTracker readers) => readers.Sweep();

    // Like Calls: the tracker's slots are calls, whose layout loads System.Data.Common.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ReaderTracker CreateReaders()
    {
        Interlocked.CompareExchange(ref _readers, new ReaderTracker(this, _readerTimeoutMilliseconds), null);
        return _readers;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private CallPool<AdoSqlCall> CreateCalls()
    {
        Interlocked.CompareExchange(ref _calls, new CallPool<AdoSqlCall>(Math.Max(16, Environment.ProcessorCount * 8)), null);
        return _calls;
    }

    public static SqlRuntime? Current => Volatile.Read(ref s_current);

    public HandlerPipeline<ISqlHandler> Pipeline { get; }

    /// <summary>Closed while governance plugins still start alongside the app (commands wait for it); null: never held.</summary>
    public StartupGate? Startup { get; set; }

    /// <summary>
    /// Created at the first command, not with the runtime: the call type's layout loads
    /// System.Data.Common, which an app without SQL never loads otherwise.
    /// </summary>
    public CallPool<AdoSqlCall> Calls => Volatile.Read(ref _calls) ?? CreateCalls();

    public ReaderTracker Readers => Volatile.Read(ref _readers) ?? CreateReaders();

    public static void Activate(SqlRuntime? runtime) => Volatile.Write(ref s_current, runtime);

    /// <summary>
    /// The handlers for an execution starting now, or null to pass it straight through: the
    /// plugin is stopped, no handler is subscribed, or this is nested in an intercepted execution.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ISqlHandler[]? HandlersFor(out SqlRuntime? runtime)
    {
        runtime = Volatile.Read(ref s_current);
        if (runtime is null || t_depth != 0)
        {
            return null;
        }

        if (runtime.Startup is { IsOpen: false } startup)
        {
            HoldForStartup(startup);
        }

        var handlers = runtime.Pipeline.Handlers;
        return handlers.Length == 0 ? null : handlers;
    }

    // Only while the agent still starts governance plugins alongside the app (e.g. a query in the
    // app's Main): blocking, also for asynchronous commands, since it lasts milliseconds. A
    // command that waited the whole hold timeout goes on; the gate reports it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void HoldForStartup(StartupGate startup) => startup.Wait();

    /// <summary>Marks the provider's synchronous part as running (see <see cref="t_depth"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Enter() => t_depth++;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exit() => t_depth--;

    /// <summary>Rents a call and runs <see cref="ISqlHandler.OnExecuting"/> in order until one fails the command.</summary>
    public AdoSqlCall Begin(DbCommand command, SqlExecuteKind kind, bool isAsync, ISqlHandler[] handlers)
    {
        var call = Calls.Rent();
        try
        {
            call.Begin(this, command, kind, isAsync, handlers, Pipeline.MeasuresDuration);
        }
        catch (Exception ex)
        {
            Failed(ex, "reading the command");
        }

        for (int i = 0; i < handlers.Length; i++)
        {
            call.HandlerIndex = i;
            call.Ran = i + 1;
            Exception? rejection;
            try
            {
                rejection = handlers[i].OnExecuting(call);
            }
            catch (Exception ex)
            {
                HandlerFailed(ex, handlers[i], nameof(ISqlHandler.OnExecuting));
                continue;
            }

            if (rejection is not null)
            {
                call.Rejection = rejection;
                break;
            }
        }

        // The duration is the provider's: it starts when the command goes to the provider.
        if (call.Measure)
        {
            call.StartTimestamp = Stopwatch.GetTimestamp();
        }

        return call;
    }

    /// <summary>A handler failed the command: the handlers see it, and the exception goes to the app.</summary>
    public Exception Reject(AdoSqlCall call, Exception rejection)
    {
        Interlocked.Increment(ref _rejected);
        Complete(call, rejection, 0, rejected: true);
        return rejection;
    }

    /// <summary>A non-reader execution (or any execution that failed) ended.</summary>
    public void Executed(AdoSqlCall call, Exception? error)
    {
        if (error is not null)
        {
            Interlocked.Increment(ref _failed);
        }

        Complete(call, error, call.Elapsed(), rejected: false);
    }

    /// <summary>
    /// A reader execution returned its reader: the outcome waits until the reader is closed or
    /// raises an error while the app reads (see <see cref="ReaderTracker"/>).
    /// </summary>
    public void ReaderExecuted(AdoSqlCall call, DbDataReader? reader)
    {
        call.ExecutedTicks = call.Elapsed();
        if (reader is null || !Readers.Track(call, reader))
        {
            Complete(call, null, call.ExecutedTicks, rejected: false);
        }
    }

    /// <summary>Sees an async execution's outcome when the provider's task completes; the app gets the provider's task untouched.</summary>
    public void Watch(AdoSqlCall call, Task task, Func<Task, DbDataReader?>? readerOf)
    {
        if (task.IsCompleted)
        {
            Done(call, task, readerOf);
            return;
        }

        call.Pending = task;
        call.ReaderOf = readerOf;
        // Registered before the app awaits the task, so handlers see the outcome before the app
        // goes on; no SynchronizationContext, no ExecutionContext capture.
        task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(call.OnTaskCompleted);
    }

    /// <summary>
    /// For reader executions still running: the app gets a task that completes after the reader
    /// is tracked, so its first read already finds it (a continuation registered on the
    /// provider's task may run after the app's own). One task per such execution.
    /// </summary>
    public Task<TReader> WatchReader<TReader>(AdoSqlCall call, Task<TReader> task)
        where TReader : System.Data.Common.DbDataReader
    {
        if (task.IsCompleted)
        {
            Done(call, task, ReaderResult<TReader>.Get);
            return task;
        }

        return Tracked(call, task);
    }

    private async Task<TReader> Tracked<TReader>(AdoSqlCall call, Task<TReader> task)
        where TReader : System.Data.Common.DbDataReader
    {
        TReader reader;
        try
        {
            reader = await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Executed(call, ex);
            throw;
        }

        ReaderExecuted(call, reader);
        return reader;
    }

    public void TaskCompleted(AdoSqlCall call)
    {
        var task = call.Pending!;
        var readerOf = call.ReaderOf;
        call.Pending = null;
        call.ReaderOf = null;
        Done(call, task, readerOf);
    }

    /// <summary>The reader failed while the app read it, or was closed: the execution's outcome.</summary>
    public void ReaderEnded(AdoSqlCall call, Exception? error)
    {
        if (error is not null)
        {
            Interlocked.Increment(ref _readerErrors);
        }

        Complete(call, error, call.ExecutedTicks, rejected: false);
    }

    public void HandlerFailed(Exception exception, ISqlHandler handler, string callback)
    {
        Interlocked.Increment(ref _handlerFailures);
        if (_failures.TryAcquire(out long suppressed))
        {
            _log.Error(exception, "SQL handler {Handler} threw in {Callback}; the command goes on (fail-open). {Suppressed} similar failure(s) not logged since the last one", handler.GetType().FullName, callback, suppressed);
        }
    }

    public void Failed(Exception exception, string what)
    {
        Interlocked.Increment(ref _handlerFailures);
        if (_failures.TryAcquire(out long suppressed))
        {
            _log.Error(exception, "SQL interception failed while {What}; the command goes on (fail-open). {Suppressed} similar failure(s) not logged since the last one", what, suppressed);
        }
    }

    public void Collect(StatusCollector collector)
    {
        collector.Counter("sql", "rejected", Interlocked.Read(ref _rejected));
        collector.Counter("sql", "failed", Interlocked.Read(ref _failed));
        collector.Counter("sql", "readerErrors", Interlocked.Read(ref _readerErrors));
        collector.Counter("sql", "handlerFailures", Interlocked.Read(ref _handlerFailures));
        collector.Gauge("sql", "openReaders", Volatile.Read(ref _readers) is { } readers ? OpenReaders(readers) : 0);
    }

    public void Dispose() => _sweeper.Dispose();

    /// <summary>The exception a completed task carries, as the app's await would throw it.</summary>
    public static Exception? ErrorOf(Task task)
    {
        if (task.IsCompletedSuccessfully)
        {
            return null;
        }

        if (task.IsFaulted && task.Exception is { InnerExceptions.Count: 1 } aggregate)
        {
            return aggregate.InnerExceptions[0];
        }

        try
        {
            task.GetAwaiter().GetResult();
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private void Done(AdoSqlCall call, Task task, Func<Task, DbDataReader?>? readerOf)
    {
        var error = ErrorOf(task);
        if (error is null && readerOf is not null)
        {
            DbDataReader? reader = null;
            try
            {
                reader = readerOf(task);
            }
            catch (Exception ex)
            {
                Failed(ex, "reading a reader task's result");
            }

            ReaderExecuted(call, reader);
            return;
        }

        Executed(call, error);
    }

    /// <summary>Runs <see cref="ISqlHandler.OnExecuted"/> of the handlers that saw the command, last first, and returns the call.</summary>
    private void Complete(AdoSqlCall call, Exception? error, long elapsedTicks, bool rejected)
    {
        var outcome = new SqlOutcome(error, elapsedTicks, rejected);
        var handlers = call.Handlers;
        for (int i = call.Ran - 1; i >= 0; i--)
        {
            call.HandlerIndex = i;
            try
            {
                handlers[i].OnExecuted(call, in outcome);
            }
            catch (Exception ex)
            {
                HandlerFailed(ex, handlers[i], nameof(ISqlHandler.OnExecuted));
            }
        }

        call.Reset();
        Calls.Return(call);
    }
}
