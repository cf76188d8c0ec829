using System.Diagnostics;
using Governor.Interception;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Governor.Testing;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.RealDatabases;

/// <summary>
/// The guard against real SQLite (Microsoft.Data.Sqlite) on a temp file: a user-defined function
/// makes a statement slow or failing, and counts how often the engine really ran it.
/// </summary>
public sealed class SqliteGuardTests : IDisposable
{
    private const string SlowSql = "SELECT slow_call(@ms) AS guarded";
    private const string FailSql = "SELECT fail_if(@fail) AS guarded";
    private const string OtherSql = "SELECT count(*) FROM sqlite_master";

    private readonly TempDirectory _dir = new("governor-sqlite");
    private readonly string _connectionString;
    private int _slowCalls;
    private int _failCalls;

    public SqliteGuardTests()
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _dir.Combine("guard.db"), Pooling = false }.ToString();
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Guard_SlowTemplateOnSqlite_OpensRejectsProbesOnceAndCloses()
    {
        var (context, driver) = GuardedPipeline.Start(TestRules.Breaker(maxAllowedRt: "100ms", triggerRatio: "0.5", minRequestAmount: 5, statDuration: "1s", recoveryTimeout: "3s")); // 3 s: a machine stall right after a re-open must not already reach half-open
        using var connection = Open();
        using var slow = Command(connection, SlowSql, "ms", 120);
        using var other = Command(connection, OtherSql);

        // 1. Five slow commands in a row (600 ms in all) open the breaker within the 1 s window.
        var started = Stopwatch.StartNew();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(1L, i % 2 == 0 ? driver.Execute(slow) : await driver.ExecuteAsync(slow));
        }

        Assert.True(started.Elapsed < TimeSpan.FromSeconds(1), $"took {started.Elapsed}");
        Assert.Equal("Open", State(context, "guard.db", "SELECT slow_call(@ms) AS guarded"));
        var opened = Stopwatch.StartNew();

        // 2. While open: rejected without reaching the engine, sync (thrown) and async (faulted task); other templates run.
        Assert.Throws<SqlGuardOpenException>(() => driver.Execute(slow));
        var faulted = driver.ExecuteAsync(slow);
        Assert.True(faulted.IsFaulted);
        await Assert.ThrowsAsync<SqlGuardOpenException>(() => faulted);
        Assert.Equal(0L, driver.Execute(other));
        Assert.Equal(5, Volatile.Read(ref _slowCalls));

        // 3. After recoveryTimeout, one probe runs (slowly) and everything sent meanwhile is rejected.
        await Task.Delay(Remaining(opened, TimeSpan.FromSeconds(3.05)));
        var probe = Task.Factory.StartNew(() => RunOnOwnConnection(driver, SlowSql, "ms", 300), TaskCreationOptions.LongRunning);
        while (Volatile.Read(ref _slowCalls) < 6)
        {
            await Task.Delay(5);
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Contains("one probe command is running", Assert.Throws<SqlGuardOpenException>(() => driver.Execute(slow)).Message);
        }

        Assert.Null(await probe);
        Assert.Equal(6, Volatile.Read(ref _slowCalls));
        Assert.Equal("Open", State(context, "guard.db", "SELECT slow_call(@ms) AS guarded"));
        var reopened = Stopwatch.StartNew();

        // 4. Fast again: the next probe closes the breaker.
        slow.Parameters["@ms"].Value = 0;
        await Task.Delay(Remaining(reopened, TimeSpan.FromSeconds(3.05)));
        Assert.Equal(1L, await driver.ExecuteAsync(slow));
        Assert.Equal("Closed", State(context, "guard.db", "SELECT slow_call(@ms) AS guarded"));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(1L, driver.Execute(slow));
        }

        Assert.Equal(12, Volatile.Read(ref _slowCalls));
    }

    [Fact]
    public async Task Guard_FailingTemplateOnSqlite_ErrorRatioOpensAndSuccessfulProbeCloses()
    {
        var (context, driver) = GuardedPipeline.Start(TestRules.Breaker(strategy: "ErrorRequestRatio", triggerRatio: "0.5", minRequestAmount: 4, statDuration: "5s", recoveryTimeout: "500ms"));
        using var connection = Open();
        using var command = Command(connection, FailSql, "fail", 1);

        for (int i = 0; i < 4; i++)
        {
            Assert.IsType<SqliteException>(Record.Exception(() => driver.Execute(command)));
        }

        Assert.Equal("Open", State(context, "guard.db", "SELECT fail_if(@fail) AS guarded"));
        var ex = Assert.Throws<SqlGuardOpenException>(() => driver.Execute(command));
        Assert.Contains("4 of 4 commands in 5s failed", ex.Message);
        Assert.Equal(4, Volatile.Read(ref _failCalls));

        await Task.Delay(600);
        command.Parameters["@fail"].Value = 0;
        Assert.Equal(0L, await driver.ExecuteAsync(command));
        Assert.Equal("Closed", State(context, "guard.db", "SELECT fail_if(@fail) AS guarded"));
        Assert.Equal(5, Volatile.Read(ref _failCalls));
        Assert.Equal(4, RecordingCollector.From(context.StatusProviders[0]).Counter("sql@guard.db:SELECT fail_if(@fail) AS guarded", "errors"));
    }

    [Fact]
    public void Guard_ObserverModeOnSqlite_EveryCommandReachesTheEngine()
    {
        var (context, driver) = GuardedPipeline.Start(TestRules.Breaker(maxAllowedRt: "50ms", minRequestAmount: 3, recoveryTimeout: "1h"), new Dictionary<string, string> { ["observe"] = "true" });
        using var connection = Open();
        using var slow = Command(connection, SlowSql, "ms", 60);

        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(1L, driver.Execute(slow));
        }

        Assert.Equal(8, Volatile.Read(ref _slowCalls));
        var status = RecordingCollector.From(context.StatusProviders[0]);
        Assert.Equal("Open (observe)", status.States["sql@guard.db:SELECT slow_call(@ms) AS guarded"]);
        Assert.Equal(5, status.Counter("sql@guard.db:SELECT slow_call(@ms) AS guarded", "wouldReject"));
        Assert.Equal(0, status.Counter("sql@guard.db:SELECT slow_call(@ms) AS guarded", "rejected"));
    }

    private Exception? RunOnOwnConnection(SqlPipelineDriver driver, string sql, string parameter, int value)
    {
        using var connection = Open();
        using var command = Command(connection, sql, parameter, value);
        try
        {
            driver.Execute(command);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // The engine runs these: they count what really reached the database.
        connection.CreateFunction("slow_call", (long ms) =>
        {
            Interlocked.Increment(ref _slowCalls);
            Thread.Sleep((int)ms);
            return 1L;
        });
        connection.CreateFunction("fail_if", (long fail) =>
        {
            Interlocked.Increment(ref _failCalls);
            return fail != 0 ? throw new InvalidOperationException("fail_if was told to fail") : 0L;
        });
        return connection;
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, string? parameter = null, long value = 0)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is not null)
        {
            command.Parameters.AddWithValue("@" + parameter, value);
        }

        return command;
    }

    private static TimeSpan Remaining(Stopwatch since, TimeSpan total)
    {
        var left = total - since.Elapsed;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private static string State(FakePluginContext context, string database, string template)
        => RecordingCollector.From(context.StatusProviders[0]).States[$"sql@{database}:{template}"];
}
