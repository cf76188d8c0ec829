using System.Data;
using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

/// <summary>What the app saw for one SQL case.</summary>
public sealed record SqlResult(string Case, string? Value, string? Error = null, string? ErrorType = null, bool IsDbException = false, bool ThrewSynchronously = false, long? RowsAfter = null)
{
    public static SqlResult Failed(string name, Exception ex, bool synchronously = false) =>
        new(name, null, ex.Message, ex.GetType().FullName, ex is DbException, synchronously);
}

/// <summary>
/// SQL through ADO.NET (typed provider commands and DbCommand), Dapper and EF Core (net10.0), on
/// SQLite and, when a connection string is given, PostgreSQL; sync and async. Every command text
/// carries a <c>/*case:NAME*/</c> marker (EF Core queries a <c>-- case:NAME</c> tag) so records
/// can be matched to cases.
/// </summary>
public static class SqlScenarios
{
    private static readonly string s_sqliteFile = Path.Combine(Path.GetTempPath(), $"outbound-app-{Environment.ProcessId}.db");

    public static string Sqlite => $"Data Source={s_sqliteFile}";

    public static async Task<List<SqlResult>> RunAll(string? pg, string? only, string run)
    {
        var results = new List<SqlResult>();
        if (only is null or "sqlite")
        {
            using var sqlite = new SqliteConnection(Sqlite);
            sqlite.Open();
            await Ado(results, $"{run}:sqlite", sqlite, () => new SqliteCommand { Connection = sqlite });
            await Dapper(results, $"{run}:sqlite", sqlite);
#if NET10_0_OR_GREATER
            await EfScenarios.Run(results, Sqlite, run);
#endif
        }

        if (pg is not null && only is null or "pg")
        {
            using var npgsql = new NpgsqlConnection(pg);
            npgsql.Open();
            await Ado(results, $"{run}:pg", npgsql, () => new NpgsqlCommand { Connection = npgsql });
            await Dapper(results, $"{run}:pg", npgsql);
            await using var source = NpgsqlDataSource.Create(pg);
            await using (var command = source.CreateCommand($"SELECT 7 /*case:ado-{run}:pg-datasource-scalar*/"))
            {
                results.Add(await Run($"ado-{run}:pg-datasource-scalar", async () => Convert.ToString(await command.ExecuteScalarAsync())));
            }
        }

        return results;
    }

    /// <summary>Commands a blocking handler fails: the app must get a DbException, never thrown synchronously by an async call, and the database must not run them.</summary>
    public static async Task<List<SqlResult>> Blocked(string? pg, string run)
    {
        var results = new List<SqlResult>();
        using var sqlite = new SqliteConnection(Sqlite);
        sqlite.Open();
        await BlockedCases(results, $"{run}:sqlite", sqlite, () => new SqliteCommand { Connection = sqlite });
        if (pg is not null)
        {
            using var npgsql = new NpgsqlConnection(pg);
            npgsql.Open();
            await BlockedCases(results, $"{run}:pg", npgsql, () => new NpgsqlCommand { Connection = npgsql });
        }

        return results;
    }

    /// <summary>Errors the providers report while the app reads: SQLite in Read, PostgreSQL in NextResult.</summary>
    public static async Task<List<SqlResult>> ReaderErrors(string? pg, string run)
    {
        var results = new List<SqlResult>();
        using var sqlite = new SqliteConnection(Sqlite);
        sqlite.Open();
        using (var command = sqlite.CreateCommand())
        {
            command.CommandText = $"SELECT 1 UNION ALL SELECT abs(-9223372036854775808) /*case:{run}:reader-error-sqlite*/";
            results.Add(await Run($"{run}:reader-error-sqlite", () =>
            {
                using var reader = command.ExecuteReader();
                int rows = 0;
                while (reader.Read())
                {
                    rows++;
                }

                return Task.FromResult<string?>(rows.ToString());
            }));
        }

        if (pg is not null)
        {
            using var npgsql = new NpgsqlConnection(pg);
            npgsql.Open();
            using var command = new NpgsqlCommand($"SELECT 1 /*case:{run}:reader-error-pg*/; SELECT 1/0", npgsql);
            results.Add(await Run($"{run}:reader-error-pg", async () =>
            {
                await using var reader = await command.ExecuteReaderAsync();
                int results = 0;
                do
                {
                    results++;
                    while (await reader.ReadAsync())
                    {
                    }
                }
                while (await reader.NextResultAsync());
                return results.ToString();
            }));
        }

        return results;
    }

    private static async Task Ado(List<SqlResult> results, string db, DbConnection connection, Func<DbCommand> create)
    {
        string p = $"ado-{db}";
        Execute(connection, "DROP TABLE IF EXISTS ado_items");
        Execute(connection, "CREATE TABLE ado_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        results.Add(await Run($"{p}-nonquery-sync", () => Task.FromResult<string?>(Command(create, $"INSERT INTO ado_items (id, name) VALUES (1, 'one') /*case:{p}-nonquery-sync*/").ExecuteNonQuery().ToString())));
        results.Add(await Run($"{p}-nonquery-async", async () => (await Command(create, $"INSERT INTO ado_items (id, name) VALUES (2, 'two') /*case:{p}-nonquery-async*/").ExecuteNonQueryAsync()).ToString()));
        results.Add(await Run($"{p}-scalar-sync", () => Task.FromResult(Convert.ToString(Command(create, $"SELECT COUNT(*) FROM ado_items /*case:{p}-scalar-sync*/").ExecuteScalar()))));
        results.Add(await Run($"{p}-scalar-async", async () => Convert.ToString(await Command(create, $"SELECT COUNT(*) FROM ado_items /*case:{p}-scalar-async*/").ExecuteScalarAsync())));
        results.Add(await Run($"{p}-reader-sync", () => Task.FromResult<string?>(ReadAll(Command(create, $"SELECT name FROM ado_items ORDER BY id /*case:{p}-reader-sync*/").ExecuteReader()))));
        results.Add(await Run($"{p}-reader-async", async () => await ReadAllAsync(await Command(create, $"SELECT name FROM ado_items ORDER BY id /*case:{p}-reader-async*/").ExecuteReaderAsync())));

        // The provider's own typed methods, which do not go through DbCommand.ExecuteReader.
        if (connection is SqliteConnection)
        {
            results.Add(await Run($"{p}-typed-reader-sync", () =>
            {
                var command = (SqliteCommand)Command(create, $"SELECT name FROM ado_items ORDER BY id /*case:{p}-typed-reader-sync*/");
                using SqliteDataReader reader = command.ExecuteReader();
                return Task.FromResult<string?>(ReadAll(reader));
            }));
            results.Add(await Run($"{p}-typed-reader-async", async () =>
            {
                var command = (SqliteCommand)Command(create, $"SELECT name FROM ado_items ORDER BY id /*case:{p}-typed-reader-async*/");
                return await ReadAllAsync(await command.ExecuteReaderAsync());
            }));
        }
        else
        {
            results.Add(await Run($"{p}-typed-reader-sync", () =>
            {
                var command = (NpgsqlCommand)Command(create, $"SELECT name FROM ado_items ORDER BY id /*case:{p}-typed-reader-sync*/");
                using NpgsqlDataReader reader = command.ExecuteReader();
                return Task.FromResult<string?>(ReadAll(reader));
            }));
            results.Add(await Run($"{p}-typed-reader-async", async () =>
            {
                var command = (NpgsqlCommand)Command(create, $"SELECT name FROM ado_items ORDER BY id /*case:{p}-typed-reader-async*/");
                return await ReadAllAsync(await command.ExecuteReaderAsync());
            }));
        }
    }

    private static async Task Dapper(List<SqlResult> results, string db, DbConnection connection)
    {
        string p = $"dapper-{db}";
        connection.Execute("DROP TABLE IF EXISTS dapper_items");
        connection.Execute("CREATE TABLE dapper_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        results.Add(await Run($"{p}-execute-sync", () => Task.FromResult<string?>(connection.Execute($"INSERT INTO dapper_items (id, name) VALUES (@id, @name) /*case:{p}-execute-sync*/", new { id = 1, name = "one" }).ToString())));
        results.Add(await Run($"{p}-execute-async", async () => (await connection.ExecuteAsync($"INSERT INTO dapper_items (id, name) VALUES (@id, @name) /*case:{p}-execute-async*/", new { id = 2, name = "two" })).ToString()));
        results.Add(await Run($"{p}-query-sync", () => Task.FromResult<string?>(string.Join(",", connection.Query<string>($"SELECT name FROM dapper_items ORDER BY id /*case:{p}-query-sync*/")))));
        results.Add(await Run($"{p}-query-async", async () => string.Join(",", await connection.QueryAsync<string>($"SELECT name FROM dapper_items ORDER BY id /*case:{p}-query-async*/"))));
        results.Add(await Run($"{p}-scalar-async", async () => Convert.ToString(await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM dapper_items /*case:{p}-scalar-async*/"))));
    }

    private static async Task BlockedCases(List<SqlResult> results, string db, DbConnection connection, Func<DbCommand> create)
    {
        Execute(connection, "DROP TABLE IF EXISTS blocked_items");
        Execute(connection, "CREATE TABLE blocked_items (id INTEGER PRIMARY KEY)");
        string p = $"block-{db}";
        results.Add(Observe($"{p}-sync", () => Command(create, $"INSERT INTO blocked_items (id) VALUES (1) /*case:{p}-sync blockme*/").ExecuteNonQuery(), connection));
        results.Add(await ObserveAsync($"{p}-async", () => Command(create, $"INSERT INTO blocked_items (id) VALUES (2) /*case:{p}-async blockme*/").ExecuteNonQueryAsync(), connection));
        results.Add(await ObserveAsync($"{p}-reader-async", () => Command(create, $"SELECT id FROM blocked_items /*case:{p}-reader-async blockme*/").ExecuteReaderAsync(), connection));
        results.Add(await ObserveAsync($"{p}-dapper-async", () => connection.ExecuteAsync($"INSERT INTO blocked_items (id) VALUES (3) /*case:{p}-dapper-async blockme*/"), connection));
        // Not matched: runs.
        results.Add(Observe($"{p}-passes", () => Command(create, $"INSERT INTO blocked_items (id) VALUES (4) /*case:{p}-passes*/").ExecuteNonQuery(), connection));
    }

    private static SqlResult Observe(string name, Func<object?> action, DbConnection connection)
    {
        try
        {
            object? value = action();
            return new SqlResult(name, Convert.ToString(value), RowsAfter: Rows(connection));
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex) with { RowsAfter = Rows(connection) };
        }
    }

    private static async Task<SqlResult> ObserveAsync(string name, Func<Task> action, DbConnection connection)
    {
        Task task;
        try
        {
            task = action();
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex, synchronously: true) with { RowsAfter = Rows(connection) };
        }

        try
        {
            await task;
            return new SqlResult(name, "ok", RowsAfter: Rows(connection));
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex) with { RowsAfter = Rows(connection) };
        }
    }

    private static long Rows(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM blocked_items";
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private static async Task<SqlResult> Run(string name, Func<Task<string?>> action)
    {
        try
        {
            return new SqlResult(name, await action());
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex);
        }
    }

    private static DbCommand Command(Func<DbCommand> create, string text)
    {
        var command = create();
        command.CommandText = text;
        return command;
    }

    private static void Execute(DbConnection connection, string text)
    {
        using var command = connection.CreateCommand();
        command.CommandText = text;
        command.ExecuteNonQuery();
    }

    private static string ReadAll(DbDataReader reader)
    {
        using (reader)
        {
            var names = new List<string>();
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }

            return string.Join(",", names);
        }
    }

    private static async Task<string?> ReadAllAsync(DbDataReader reader)
    {
        await using (reader)
        {
            var names = new List<string>();
            while (await reader.ReadAsync())
            {
                names.Add(reader.GetString(0));
            }

            return string.Join(",", names);
        }
    }
}
