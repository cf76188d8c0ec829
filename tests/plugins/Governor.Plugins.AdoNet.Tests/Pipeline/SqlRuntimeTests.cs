using System.Data;
using System.Data.Common;
using Governor.Interception;
using Microsoft.Data.Sqlite;
using Governor.Plugins.Outbound.Testing;
using Xunit;

namespace Governor.Plugins.AdoNet.Tests.Pipeline;

/// <summary>
/// The SQL pipeline's semantics, driven directly (no patching): what the detours call around the
/// provider's original method.
/// </summary>
public sealed class SqlRuntimeTests : IDisposable
{
    private readonly List<string> _journal = new();
    private readonly ListLogger _log = new();
    private readonly HandlerPipeline<ISqlHandler> _pipeline = new("sql");
    private readonly SqlRuntime _runtime;
    private readonly SqliteConnection _connection = new("Data Source=:memory:");
    private readonly SqliteCommand _command;

    public SqlRuntimeTests()
    {
        _runtime = new SqlRuntime(_pipeline, _log, TimeSpan.FromMinutes(10));
        _command = _connection.CreateCommand();
        _command.CommandText = "SELECT 1 /* the text */";
    }

    public void Dispose()
    {
        _runtime.Dispose();
        _command.Dispose();
        _connection.Dispose();
    }

    [Fact]
    public void Begin_SecondHandlerRejects_LaterHandlerSkipped_OutcomeInReverseForThoseThatRanWithTheRejection()
    {
        var (a, b, c) = (Handler("a"), Handler("b"), Handler("c"));
        var rejection = new InvalidOperationException("no");
        b.Reject = rejection;

        var call = _runtime.Begin(_command, SqlExecuteKind.NonQuery, isAsync: false, new ISqlHandler[] { a, b, c });
        Assert.Same(rejection, call.Rejection);
        var thrown = _runtime.Reject(call, call.Rejection!);

        Assert.Same(rejection, thrown);
        Assert.Equal(new[] { "a.executing", "b.executing", "b.executed:rejected", "a.executed:rejected" }, _journal);
        Assert.True(a.Outcomes.Single().RejectedByHandler);
        Assert.Same(rejection, a.Outcomes.Single().Exception);
    }

    [Fact]
    public void Begin_DescribesTheExecution_TextProviderDatabaseKindAsyncAndTheCurrentContext()
    {
        var a = Handler("a");
        var context = new RequestContext { TrafficLabel = "gray" };
        RequestContext.SetCurrent(context);
        SqlCall? seen = null;
        a.OnExecutingSeen = call => seen = call;

        var call = _runtime.Begin(_command, SqlExecuteKind.Scalar, isAsync: true, new ISqlHandler[] { a });

        Assert.Same(call, seen);
        Assert.Equal("SELECT 1 /* the text */", call.CommandText);
        Assert.Equal("Microsoft.Data.Sqlite", call.Provider);
        Assert.Equal(":memory:", call.DataSource);
        Assert.Equal("main", call.Database);
        Assert.Equal(SqlExecuteKind.Scalar, call.Kind);
        Assert.True(call.IsAsync);
        Assert.Same(context, call.Context);
        Assert.Same(_command, call.Command);
        _runtime.Executed(call, null);
        RequestContext.SetCurrent(null);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Executed_DurationIsMeasuredOnlyWhenASubscriberWantsIt(bool measures)
    {
        var a = Handler("a");
        using var subscription = _pipeline.Subscribe(a, 0, "test", measuresDuration: measures);

        var call = _runtime.Begin(_command, SqlExecuteKind.NonQuery, isAsync: false, new ISqlHandler[] { a });
        Thread.Sleep(20);
        _runtime.Executed(call, null);

        var elapsed = a.Outcomes.Single().Elapsed;
        Assert.True(measures ? elapsed >= TimeSpan.FromMilliseconds(15) : elapsed == TimeSpan.Zero, $"elapsed {elapsed}");
    }

    [Fact]
    public void Begin_HandlerThrows_CommandGoesOnAndTheFailureIsLogged()
    {
        var (a, b) = (Handler("a"), Handler("b"));
        a.Throw = true;

        var call = _runtime.Begin(_command, SqlExecuteKind.NonQuery, isAsync: false, new ISqlHandler[] { a, b });
        Assert.Null(call.Rejection);
        _runtime.Executed(call, null);

        Assert.Equal(new[] { "a.executing", "b.executing", "b.executed:ok", "a.executed:ok" }, _journal);
        Assert.Contains(_log.Lines, l => l.Contains("fail-open", StringComparison.Ordinal));
    }

    [Fact]
    public void HandlersFor_InsideAnInterceptedExecution_PassesThrough()
    {
        var a = Handler("a");
        using var subscription = _pipeline.Subscribe(a, 0, "test");
        SqlRuntime.Activate(_runtime);
        try
        {
            Assert.NotNull(SqlRuntime.HandlersFor(out _));
            SqlRuntime.Enter();
            try
            {
                Assert.Null(SqlRuntime.HandlersFor(out _));
            }
            finally
            {
                SqlRuntime.Exit();
            }

            Assert.NotNull(SqlRuntime.HandlersFor(out _));
        }
        finally
        {
            SqlRuntime.Activate(null);
        }

        Assert.Null(SqlRuntime.HandlersFor(out _));
    }

    [Fact]
    public void ReaderExecuted_OutcomeWaitsUntilTheReaderCloses()
    {
        var a = Handler("a");
        using var reader = new DataTable().CreateDataReader();
        var call = _runtime.Begin(_command, SqlExecuteKind.Reader, isAsync: false, new ISqlHandler[] { a });

        _runtime.ReaderExecuted(call, reader);
        Assert.Empty(a.Outcomes);
        Assert.True(_runtime.Readers.Any);
        _runtime.Readers.OnClosed(reader);

        Assert.Null(Assert.Single(a.Outcomes).Exception);
        Assert.False(_runtime.Readers.Any);
    }

    [Fact]
    public void ReaderTracker_ReadFails_TheErrorIsTheOutcome_Once()
    {
        var a = Handler("a");
        using var reader = new DataTable().CreateDataReader();
        var call = _runtime.Begin(_command, SqlExecuteKind.Reader, isAsync: false, new ISqlHandler[] { a });
        _runtime.ReaderExecuted(call, reader);
        var error = new InvalidOperationException("integer overflow");

        Assert.False(_runtime.Readers.OnFailed(reader, error));
        _runtime.Readers.OnClosed(reader);

        Assert.Same(error, Assert.Single(a.Outcomes).Exception);
    }

    [Fact]
    public void ReaderTracker_Sweep_CompletesAReaderClosedBehindTheDetoursBack()
    {
        var a = Handler("a");
        var reader = new DataTable().CreateDataReader();
        var call = _runtime.Begin(_command, SqlExecuteKind.Reader, isAsync: false, new ISqlHandler[] { a });
        _runtime.ReaderExecuted(call, reader);
        _runtime.Readers.Sweep();
        Assert.Empty(a.Outcomes);

        reader.Close();
        _runtime.Readers.Sweep();

        Assert.Single(a.Outcomes);
    }

    [Fact]
    public async Task Watch_PendingTask_OutcomeWhenItCompletes()
    {
        var a = Handler("a");
        var pending = new TaskCompletionSource<int>();
        var call = _runtime.Begin(_command, SqlExecuteKind.NonQuery, isAsync: true, new ISqlHandler[] { a });

        _runtime.Watch(call, pending.Task, null);
        Assert.Empty(a.Outcomes);
        var error = new TimeoutException("slow");
        pending.SetException(error);
        await Assert.ThrowsAsync<TimeoutException>(() => pending.Task);

        Assert.Same(error, Assert.Single(await Eventually(a.Outcomes)).Exception);
    }

    [Fact]
    public async Task WatchReader_PendingReaderTask_ReaderIsTrackedBeforeTheAppGetsIt()
    {
        var a = Handler("a");
        var reader = new DataTable().CreateDataReader();
        var pending = new TaskCompletionSource<DbDataReader>(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = _runtime.Begin(_command, SqlExecuteKind.Reader, isAsync: true, new ISqlHandler[] { a });

        var appTask = _runtime.WatchReader(call, pending.Task);
        pending.SetResult(reader);

        Assert.Same(reader, await appTask);
        // The app's first read would already find it: no race with a continuation.
        Assert.True(_runtime.Readers.Any);
        Assert.Empty(a.Outcomes);
        _runtime.Readers.OnClosed(reader);
        Assert.Single(a.Outcomes);
    }

    [Fact]
    public async Task WatchRead_PendingReadFails_TheErrorIsRecordedBeforeTheAppSeesIt()
    {
        var a = Handler("a");
        var reader = new DataTable().CreateDataReader();
        var call = _runtime.Begin(_command, SqlExecuteKind.Reader, isAsync: true, new ISqlHandler[] { a });
        _runtime.ReaderExecuted(call, reader);
        var pending = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var error = new InvalidOperationException("division by zero");

        var appTask = _runtime.Readers.WatchRead(reader, pending.Task);
        pending.SetException(error);

        Assert.Same(error, await Assert.ThrowsAsync<InvalidOperationException>(() => appTask));
        // The app now disposes the reader: the outcome already carries the error.
        _runtime.Readers.OnClosed(reader);
        Assert.Same(error, Assert.Single(a.Outcomes).Exception);
    }

    [Fact]
    public void BeginExecuted_NoOpHandler_AllocatesNothing()
    {
        var handlers = new ISqlHandler[] { new NoOpSqlHandler() };
        for (int i = 0; i < 100; i++)
        {
            _runtime.Executed(_runtime.Begin(_command, SqlExecuteKind.NonQuery, isAsync: false, handlers), null);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            _runtime.Executed(_runtime.Begin(_command, SqlExecuteKind.NonQuery, isAsync: false, handlers), null);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task HandlersFor_AgentStillStartingItsPlugins_CommandWaitsAndMeetsTheHandlerSubscribedMeanwhile()
    {
        var gate = new StartupGate();
        gate.Close();
        _runtime.Startup = gate;
        SqlRuntime.Activate(_runtime);
        try
        {
            var pending = Task.Run(() => SqlRuntime.HandlersFor(out _));
            await Task.Delay(100);
            Assert.False(pending.IsCompleted);

            // A governance plugin (the SQL guard) starts and subscribes; then the agent's start is over.
            var a = Handler("a");
            using var subscription = _pipeline.Subscribe(a, 0, "test");
            gate.Open();
            var handlers = await pending.WaitAsync(TimeSpan.FromSeconds(5));

            Assert.Same(a, Assert.Single(handlers!));
        }
        finally
        {
            SqlRuntime.Activate(null);
        }
    }

    private ScriptedSqlHandler Handler(string name) => new(name, _journal);

    /// <summary>The task's continuation may run on the thread pool: wait (bounded) for its effect.</summary>
    private static async Task<List<SqlOutcome>> Eventually(List<SqlOutcome> outcomes)
    {
        await Eventually(() => outcomes.Count > 0);
        return outcomes;
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (int i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }
    }
}
