using System.Data.Common;
using System.Diagnostics;
using Governor.Interception;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Governor.Testing;
using Npgsql;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.RealDatabases;

/// <summary>One private PostgreSQL server for the tests of this class.</summary>
public sealed class PostgresFixture : IDisposable
{
    public PostgresServer Server { get; } = PostgresServer.Start(new PostgresServerOptions { Database = "sqlguard" });

    public void Dispose() => Server.Dispose();
}

/// <summary>
/// The guard against a real PostgreSQL: real commands through the real pipeline (the stand-in
/// interception provider), statement executions counted on the server by pg_stat_statements.
/// </summary>
public sealed class PostgresGuardTests : IClassFixture<PostgresFixture>
{
    // pg_stat_statements keeps identifiers (not constants) in its text: the aliases name the templates.
    private const string SlowSql = "SELECT pg_sleep(@seconds) AS guarded_template";
    private const string OtherSql = "SELECT count(*) AS other_template FROM pg_class";
    private const string SlowResource = "sql@sqlguard:SELECT pg_sleep(@seconds) AS guarded_template";

    private readonly PostgresServer _server;

    public PostgresGuardTests(PostgresFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task Guard_SlowTemplateOnPostgres_OpensRejectsProbesOnceAndCloses()
    {
        var (context, driver) = GuardedPipeline.Start(TestRules.Breaker(maxAllowedRt: "100ms", triggerRatio: "0.5", minRequestAmount: 5, statDuration: "1s", recoveryTimeout: "3s")); // 3 s: a machine stall right after a re-open must not already reach half-open
        await using var dataSource = NpgsqlDataSource.Create(_server.ConnectionString());
        await WarmUp(dataSource, 6);
        _server.ResetStatementStats();

        // 1. Six slow commands at once (three sync, three async): the fifth completion opens the breaker.
        var started = Stopwatch.StartNew();
        var first = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Execute(driver, dataSource, SlowSql, 0.5, async: i % 2 == 0)));
        var firstBatch = started.Elapsed;
        Assert.All(first, Assert.Null);
        Assert.Equal("Open", State(context));
        Assert.True(firstBatch < TimeSpan.FromSeconds(1), $"six concurrent 500 ms commands took {firstBatch}: not within one window");
        Assert.Equal(6, _server.StatementCalls("guarded_template"));
        var opened = Stopwatch.StartNew();

        // 2. While open: the template never reaches the server (and fails fast); other templates run.
        await using (var connection = await dataSource.OpenConnectionAsync())
        await using (var command = Command(connection, SlowSql, 0.5))
        {
            for (int i = 0; i < 10; i++)
            {
                var sw = Stopwatch.StartNew();
                var rejected = i % 2 == 0
                    ? await Record.ExceptionAsync(() => driver.ExecuteAsync(command))
                    : Record.Exception(() => driver.Execute(command));
                var elapsed = sw.Elapsed;
                var open = Assert.IsType<SqlGuardOpenException>(rejected);
                Assert.IsAssignableFrom<DbException>(open);
                Assert.Contains("SELECT pg_sleep(@seconds) AS guarded_template", open.Message);
                Assert.True(elapsed < TimeSpan.FromMilliseconds(100), $"a rejection took {elapsed}");
            }
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Null(await Execute(driver, dataSource, OtherSql, 0, async: i % 2 == 0));
        }

        Assert.Equal(6, _server.StatementCalls("guarded_template"));
        Assert.Equal(5, _server.StatementCalls("other_template"));

        // 3. After recoveryTimeout: of five commands at once, exactly one (the probe) reaches the server; slow, so it opens again.
        await WaitUntil(opened, TimeSpan.FromSeconds(3.05));
        var probeRound = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => Execute(driver, dataSource, SlowSql, 0.5, async: i % 2 == 0)));
        Assert.Single(probeRound, r => r is null);
        Assert.Equal(4, probeRound.Count(r => r is SqlGuardOpenException));
        Assert.Equal(7, _server.StatementCalls("guarded_template"));
        Assert.Equal("Open", State(context));
        var reopened = Stopwatch.StartNew();

        // 4. Once the template is fast again, the next probe closes the breaker and everything runs.
        Assert.IsType<SqlGuardOpenException>(await Execute(driver, dataSource, SlowSql, 0, async: false));
        await WaitUntil(reopened, TimeSpan.FromSeconds(3.05));
        Assert.Null(await Execute(driver, dataSource, SlowSql, 0, async: true));
        Assert.Equal("Closed", State(context));
        for (int i = 0; i < 10; i++)
        {
            Assert.Null(await Execute(driver, dataSource, SlowSql, 0, async: i % 2 == 0));
        }

        Assert.Equal(18, _server.StatementCalls("guarded_template"));
        var status = RecordingCollector.From(context.StatusProviders[0]);
        Assert.Equal(18, status.Counter(SlowResource, "count"));
        Assert.True(status.Counter(SlowResource, "slow") >= 7); // seven slept; a loaded machine may make a fast one slow too
        Assert.Equal(15, status.Counter(SlowResource, "rejected"));
        Assert.Equal(5, status.Counter(SlowResource, "stateChanges")); // open, half-open, open, half-open, closed
        Assert.Single(context.Log.With("{Mode} opened the breaker"));
        Assert.Single(context.Log.With("{Mode} re-opened the breaker"));
        Assert.Equal(2, context.Log.With("{Mode} half-opened the breaker").Count);
        Assert.Single(context.Log.With("{Mode} closed the breaker"));
    }

    [Fact]
    public async Task ExecuteAsync_BreakerOpen_ReturnsFaultedTaskWithoutThrowing()
    {
        var (_, driver) = GuardedPipeline.Start(TestRules.Breaker(minRequestAmount: 1, triggerRatio: "0", maxAllowedRt: "0ms", recoveryTimeout: "1h"));
        await using var connection = new NpgsqlConnection(_server.ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT 1 AS async_template", connection);
        Assert.Equal(1, await driver.ExecuteAsync(command));

        var task = driver.ExecuteAsync(command);

        Assert.True(task.IsFaulted);
        var ex = await Assert.ThrowsAsync<SqlGuardOpenException>(() => task);
        Assert.Contains("SELECT ? AS async_template", ex.Message);
        Assert.Throws<SqlGuardOpenException>(() => driver.Execute(command));
    }

    [Fact]
    public void PostgresServer_Started_CountsStatementsServerSideAndConnectsBothWays()
    {
        string marker = "marker_" + Guid.NewGuid().ToString("N")[..8];

        for (int i = 0; i < 3; i++)
        {
            using var tcp = new NpgsqlConnection(_server.ConnectionString());
            tcp.Open();
            using var cmd = new NpgsqlCommand($"SELECT {i} AS {marker}", tcp);
            Assert.Equal(i, cmd.ExecuteScalar());
        }

        using var socket = new NpgsqlConnection(_server.SocketConnectionString());
        socket.Open();
        Assert.Equal("sqlguard", socket.Database);

        Assert.True(_server.HasPgStatStatements);
        Assert.Equal(3, _server.StatementCalls(marker));
        Assert.Equal("sqlguard", _server.Psql("SELECT current_database()"));
    }

    [Fact]
    public void PostgresServer_Disposed_StopsServerAndDeletesItsDirectory()
    {
        var server = PostgresServer.Start(new PostgresServerOptions { Database = "throwaway", PgStatStatements = false, LogStatements = true });
        string data = server.DataDirectory;
        using (var connection = new NpgsqlConnection(server.ConnectionString()))
        {
            connection.Open();
            using var cmd = new NpgsqlCommand("SELECT 42 AS logged_marker", connection);
            Assert.Equal(42, cmd.ExecuteScalar());
        }

        Assert.False(server.HasPgStatStatements);
        Assert.Equal(1, server.CountLoggedStatements("logged_marker"));

        server.Dispose();

        Assert.False(Directory.Exists(data));
        using var after = new NpgsqlConnection(server.ConnectionString() + ";Timeout=2;Pooling=false");
        Assert.ThrowsAny<Exception>(() => after.Open());
    }

    private static async Task WarmUp(NpgsqlDataSource dataSource, int connections)
    {
        // Open the pool's connections first, so connection setup is not part of any measured command.
        var opened = new List<NpgsqlConnection>();
        for (int i = 0; i < connections; i++)
        {
            opened.Add(await dataSource.OpenConnectionAsync());
        }

        foreach (var c in opened)
        {
            await c.DisposeAsync();
        }
    }

    /// <summary>Runs one command through the pipeline; returns the exception it failed with, or null. Sync commands get their own thread.</summary>
    private static Task<Exception?> Execute(SqlPipelineDriver driver, NpgsqlDataSource dataSource, string sql, double seconds, bool async)
    {
        if (async)
        {
            return ExecuteAsync(driver, dataSource, sql, seconds);
        }

        return Task.Factory.StartNew<Exception?>(() =>
        {
            using var connection = dataSource.OpenConnection();
            using var command = Command(connection, sql, seconds);
            try
            {
                driver.Execute(command, SqlExecuteKind.Reader);
                return null;
            }
            catch (Exception ex)
            {
                return ex;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private static async Task<Exception?> ExecuteAsync(SqlPipelineDriver driver, NpgsqlDataSource dataSource, string sql, double seconds)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = Command(connection, sql, seconds);
        try
        {
            await driver.ExecuteAsync(command, SqlExecuteKind.Scalar);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, double seconds)
    {
        var command = new NpgsqlCommand(sql, connection);
        if (sql.Contains("@seconds", StringComparison.Ordinal))
        {
            command.Parameters.AddWithValue("seconds", seconds);
        }

        return command;
    }

    private static async Task WaitUntil(Stopwatch since, TimeSpan elapsed)
    {
        var left = elapsed - since.Elapsed;
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left);
        }
    }

    private static string State(FakePluginContext context) => RecordingCollector.From(context.StatusProviders[0]).States[SlowResource];
}
