using System.Text.Json;
using Governor.Plugins.Outbound.Testing;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.AdoNet.Tests.Process;

/// <summary>
/// OutboundApp with the agent attached through DOTNET_STARTUP_HOOKS only, running SQL on SQLite and
/// a private PostgreSQL server. The recording test plugin records every command; the blocking one
/// fails commands whose text contains "blockme".
/// </summary>
[Collection(SqlProcessCollection.Name)]
public sealed class SqlProcessTests
{
    private readonly OutboundAppsFixture _apps;

    public SqlProcessTests(OutboundAppsFixture apps) => _apps = apps;

    private string Pg => Uri.EscapeDataString(_apps.Postgres.ConnectionString());

    [Theory]
    [InlineData("net8.0", "patch")]
    [InlineData("net10.0", "patch")]
    [InlineData("net10.0", "r2r")]
    public async Task Execute_EveryStyleOnSqliteAndPostgres_IsRecordedOnceWithKindAsyncProviderAndDatabase(string tfm, string variant)
    {
        var app = _apps.Get(tfm, variant);
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/sql?pg={Pg}&run={run}");

        Assert.All(results, r => Assert.True(r.GetProperty("error").ValueKind == JsonValueKind.Null, r.ToString()));
        foreach (string db in new[] { "sqlite", "pg" })
        {
            bool pg = db == "pg";
            // Microsoft.Data.Sqlite runs DbCommand's base ExecuteNonQueryAsync/ExecuteScalarAsync,
            // which execute synchronously: reported as such. Npgsql is asynchronous throughout.
            var expected = new (string Case, string Kind, bool Async)[]
            {
                ($"ado-{run}:{db}-nonquery-sync", "NonQuery", false),
                ($"ado-{run}:{db}-nonquery-async", "NonQuery", pg),
                ($"ado-{run}:{db}-scalar-sync", "Scalar", false),
                ($"ado-{run}:{db}-scalar-async", "Scalar", pg),
                ($"ado-{run}:{db}-reader-sync", "Reader", false),
                ($"ado-{run}:{db}-reader-async", "Reader", true),
                ($"ado-{run}:{db}-typed-reader-sync", "Reader", false),
                ($"ado-{run}:{db}-typed-reader-async", "Reader", true),
                ($"dapper-{run}:{db}-execute-sync", "NonQuery", false),
                ($"dapper-{run}:{db}-execute-async", "NonQuery", pg),
                ($"dapper-{run}:{db}-query-sync", "Reader", false),
                ($"dapper-{run}:{db}-query-async", "Reader", true),
                ($"dapper-{run}:{db}-scalar-async", "Scalar", pg),
            };
            foreach (var (name, kind, isAsync) in expected)
            {
                var records = app.SqlRecords(name);
                var record = Assert.Single(records);
                Assert.True(record.GetProperty("sqlKind").GetString() == kind && record.GetProperty("async").GetBoolean() == isAsync, $"{name}: {record}");
                Assert.Equal(pg ? "Npgsql" : "Microsoft.Data.Sqlite", record.GetProperty("provider").GetString());
                Assert.Equal(pg ? _apps.Postgres.Database : "main", record.GetProperty("database").GetString());
                Assert.Contains(pg ? _apps.Postgres.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) : "outbound-app-", record.GetProperty("dataSource").GetString());
                Assert.True(record.GetProperty("durationMs").GetDouble() >= 0);
                Assert.Equal(JsonValueKind.Null, record.GetProperty("exception").ValueKind);
                Assert.False(record.GetProperty("rejected").GetBoolean());
            }
        }

        // A command from an NpgsqlDataSource (a subclass of NpgsqlCommand).
        var sourced = Assert.Single(app.SqlRecords($"ado-{run}:pg-datasource-scalar"));
        Assert.Equal(("Scalar", true, "Npgsql"), (sourced.GetProperty("sqlKind").GetString(), sourced.GetProperty("async").GetBoolean(), sourced.GetProperty("provider").GetString()));

        if (tfm == "net10.0")
        {
            // EF Core: queries (tagged) and SaveChanges (INSERT ... RETURNING, a reader).
            Assert.Equal(("Reader", false), Kind(Assert.Single(app.SqlRecords($"{run}:ef-query-sync"))));
            Assert.Equal(("Reader", true), Kind(Assert.Single(app.SqlRecords($"{run}:ef-query-async"))));
            Assert.Equal(("Reader", false), Kind(Assert.Single(app.SqlRecordsWhere(t => t.StartsWith("INSERT INTO \"SyncItems\"", StringComparison.Ordinal)))));
            Assert.Equal(("Reader", true), Kind(Assert.Single(app.SqlRecordsWhere(t => t.StartsWith("INSERT INTO \"AsyncItems\"", StringComparison.Ordinal)))));
        }

        Assert.Contains("intercepting SQL:", app.PluginDetail("adonet"));
        // Providers are patched from AssemblyLoad, raised while the JIT compiles the app's code:
        // the engine must not wait for that compilation (it would wait 2 s per method).
        Assert.DoesNotContain("stayed in flight", app.AgentLog());
        var status = app.Home.Status(app.Process.Id).WaitFor(s => true);
        var sqlPoint = status.GetProperty("interception").EnumerateArray().Single(p => p.GetProperty("point").GetString() == "sql");
        Assert.Equal("adonet", sqlPoint.GetProperty("provider").GetString());
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task OnExecuting_HandlerFailsMatchingCommands_AppGetsDbExceptionNeverSynchronouslyAndTheDatabaseNeverSeesThem(string tfm)
    {
        var app = _apps.Get(tfm);
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/sql-block?pg={Pg}&run={run}");

        foreach (string db in new[] { "sqlite", "pg" })
        {
            foreach (string kind in new[] { "sync", "async", "reader-async", "dapper-async" })
            {
                string name = $"block-{run}:{db}-{kind}";
                var result = OutboundApp.Case(results, name);
                Assert.True(result.GetProperty("errorType").GetString() == "Governor.TestPlugins.TestSqlBlockedException", $"{name}: {result}");
                Assert.True(result.GetProperty("isDbException").GetBoolean());
                Assert.False(result.GetProperty("threwSynchronously").GetBoolean(), $"{name} threw synchronously");
                Assert.Equal(0, result.GetProperty("rowsAfter").GetInt64());
                var record = Assert.Single(app.SqlRecords(name));
                Assert.True(record.GetProperty("rejected").GetBoolean());
                Assert.Equal("Governor.TestPlugins.TestSqlBlockedException", record.GetProperty("exception").GetString());
            }

            var passes = OutboundApp.Case(results, $"block-{run}:{db}-passes");
            Assert.Equal(1, passes.GetProperty("rowsAfter").GetInt64());
        }

        // PostgreSQL logs every statement it receives: the blocked ones never arrived.
        Assert.Equal(0, _apps.Postgres.CountLoggedStatements($"block-{run}:pg-") - _apps.Postgres.CountLoggedStatements($"block-{run}:pg-passes"));
        Assert.Equal(1, _apps.Postgres.CountLoggedStatements($"block-{run}:pg-passes"));
    }

    [Theory]
    [InlineData("net8.0")]
    [InlineData("net10.0")]
    public async Task Read_ProviderRaisesAnErrorWhileTheAppReads_ItIsTheExecutionsOutcome(string tfm)
    {
        var app = _apps.Get(tfm);
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/sql-reader-errors?pg={Pg}&run={run}");

        // SQLite fails the second row in Read; PostgreSQL the second statement in NextResult.
        foreach (var (name, exception) in new[] { ($"{run}:reader-error-sqlite", "Microsoft.Data.Sqlite.SqliteException"), ($"{run}:reader-error-pg", "Npgsql.PostgresException") })
        {
            Assert.Equal(exception, OutboundApp.Case(results, name).GetProperty("errorType").GetString());
            var record = Assert.Single(app.SqlRecords(name));
            Assert.True(record.GetProperty("exception").GetString() == exception, $"{name}: {record}");
            Assert.Equal("Reader", record.GetProperty("sqlKind").GetString());
            Assert.False(record.GetProperty("rejected").GetBoolean());
        }
    }

    [Fact]
    public async Task Context_SetAroundTheAppsCode_ReachesACommandInATaskRunContinuation()
    {
        var app = _apps.Get("net10.0");
        string label = OutboundApp.NewRun();

        await app.Run($"/run/context?label={label}");

        var record = Assert.Single(app.SqlRecords($"{label}:ctx-sql"));
        Assert.Equal(label, record.GetProperty("trafficLabel").GetString());
        Assert.Equal(label, record.GetProperty("baggage").GetProperty("probe").GetString());
    }

    [Fact]
    public async Task Patching_Off_PluginSaysItCannotInterceptSql_AndTheAppRunsUntouched()
    {
        var app = _apps.Get("net10.0", "listener");
        string run = OutboundApp.NewRun();

        var results = await app.Run($"/run/sql?only=sqlite&run={run}");

        Assert.All(results, r => Assert.True(r.GetProperty("error").ValueKind == JsonValueKind.Null, r.ToString()));
        Assert.Contains("not intercepting SQL: patching is unavailable", app.PluginDetail("adonet"));
        Assert.Empty(app.SqlRecordsWhere(t => t.Contains(run, StringComparison.Ordinal), count: 0));
    }

    private static (string?, bool) Kind(JsonElement record) => (record.GetProperty("sqlKind").GetString(), record.GetProperty("async").GetBoolean());
}
