using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

/// <summary>
/// What the app saw for one execution of a batch: a value, or the exception it caught (and how:
/// thrown by the call itself, or through the task an async call returned), with the inner
/// exception for wrappers such as EF Core's DbUpdateException; times in ms from the batch start.
/// </summary>
public sealed record GuardResult(
    int Index,
    bool Ok,
    string? Value,
    string? CaughtAs,
    string? ErrorType,
    string? Error,
    bool IsDbException,
    bool ThrewSynchronously,
    bool ReturnedFaultedTask,
    string? InnerType,
    string? InnerError,
    bool InnerIsDbException,
    double StartMs,
    double EndMs);

/// <summary>What a batch asks for (query string of <c>/guard/exec</c>).</summary>
/// <param name="Db">"sqlite" (a file per <paramref name="Run"/>) or "pg" (<paramref name="Pg"/>).</param>
/// <param name="Api">"ado" (ExecuteScalar), "dapper" (Query), "ef" (a LINQ query), "ef-save" (SaveChanges of an insert).</param>
/// <param name="Name">Names the statement: the column alias in ADO.NET and Dapper SQL (so it is part of the template), the counter key of the engine-side count; for "ef" a name starting with "other" selects another query shape.</param>
/// <param name="Ms">How long the statement sleeps inside the database.</param>
/// <param name="Fail">When set, the failing statement instead of the sleeping one: it raises when true (SQLite: a function that raises; PostgreSQL: division by zero; ef-save: a duplicate key).</param>
/// <param name="Id">ef-save: the first id inserted (id 1 exists; with <paramref name="Fail"/> every insert takes id 1).</param>
public sealed record GuardRequest(string Db, string Api, bool Async, string Run, string Name, int Ms, int N, bool Parallel, string? Pg, bool? Fail, int Id);

/// <summary>
/// Batches of one statement for the SQL guard's end-to-end tests, run the way apps run them:
/// ADO.NET, Dapper and EF Core (net10.0) on SQLite, ADO.NET on PostgreSQL, sync and async, each
/// execution on its own connection and its own thread so that a batch runs concurrently (a slow
/// statement blocks its thread: on SQLite even the "async" calls execute synchronously). The app
/// catches what it gets as an app would — <c>catch (DbException)</c> first — and reports it.
/// <para>
/// The sleeping statement calls a user-defined function on SQLite (<c>guard_sleep(@ms, @name)</c>)
/// and <c>pg_sleep</c> on PostgreSQL. SQLite's functions count their own executions per run and
/// name: that count is taken inside the engine, so a statement that never reached it is not in it.
/// Knows nothing of Governor.
/// </para>
/// </summary>
public static class GuardScenarios
{
    private static readonly ConcurrentDictionary<string, int> s_executions = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, Lazy<string>> s_files = new(StringComparer.Ordinal);

    /// <summary>Where the SQLite files of this process live (deleted by the tests with the process).</summary>
    public static string Directory { get; } = Path.Combine(Path.GetTempPath(), $"governor-guard-{Environment.ProcessId}");

    /// <summary>How many times SQLite executed the functions for (run, name).</summary>
    public static int Executions(string run, string name) => s_executions.TryGetValue(Key(run, name), out int n) ? n : 0;

    public static string File(string run) => s_files.GetOrAdd(run, r => new Lazy<string>(() => Create(r))).Value;

    public static async Task<List<GuardResult>> Exec(GuardRequest request)
    {
        Func<int, Prepared> prepare = request.Db switch
        {
            "pg" => i => PreparePg(request),
            "sqlite" => i => PrepareSqlite(request, i),
            _ => throw new ArgumentException($"unknown db {request.Db}"),
        };

        var results = new GuardResult[request.N];
        var clock = Stopwatch.StartNew();
        if (!request.Parallel)
        {
            for (int i = 0; i < request.N; i++)
            {
                using var prepared = prepare(i);
                results[i] = Execute(i, prepared, request.Async, clock);
            }

            return results.ToList();
        }

        // Each execution on its own thread with its own connection, released together once all
        // are connected, so connection setup is not part of any execution.
        using var ready = new CountdownEvent(request.N);
        using var go = new ManualResetEventSlim();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int remaining = request.N;
        Exception? setupFailure = null;
        for (int t = 0; t < request.N; t++)
        {
            int i = t;
            var thread = new Thread(() =>
            {
                Prepared? prepared = null;
                try
                {
                    prepared = prepare(i);
                }
                catch (Exception ex)
                {
                    setupFailure = ex;
                }

                ready.Signal();
                go.Wait();
                if (prepared is not null)
                {
                    using (prepared)
                    {
                        results[i] = Execute(i, prepared, request.Async, clock);
                    }
                }

                if (Interlocked.Decrement(ref remaining) == 0)
                {
                    done.SetResult();
                }
            })
            { IsBackground = true, Name = $"guard batch {i}" };
            thread.Start();
        }

        ready.Wait();
        clock.Restart();
        go.Set();
        await done.Task;
        if (setupFailure is not null)
        {
            throw new InvalidOperationException("preparing an execution failed", setupFailure);
        }

        return results.ToList();
    }

    /// <summary>Runs one execution and reports it as the app saw it.</summary>
    private static GuardResult Execute(int index, Prepared prepared, bool async, Stopwatch clock)
    {
        double start = clock.Elapsed.TotalMilliseconds;
        bool threwSynchronously = false;
        bool returnedFaulted = false;
        try
        {
            string? value;
            if (async)
            {
                Task<string?> task;
                try
                {
                    task = prepared.RunAsync();
                }
                catch (Exception)
                {
                    threwSynchronously = true;
                    throw;
                }

                returnedFaulted = task.IsFaulted;
                value = task.GetAwaiter().GetResult();
            }
            else
            {
                value = prepared.Run();
            }

            return new GuardResult(index, true, value, null, null, null, false, false, false, null, null, false, start, clock.Elapsed.TotalMilliseconds);
        }
        catch (DbException ex)
        {
            return Failed(index, ex, "DbException", threwSynchronously, returnedFaulted, start, clock);
        }
        catch (Exception ex)
        {
            return Failed(index, ex, "Exception", threwSynchronously, returnedFaulted, start, clock);
        }
    }

    private static GuardResult Failed(int index, Exception ex, string caughtAs, bool threwSynchronously, bool returnedFaulted, double start, Stopwatch clock) =>
        new(index, false, null, caughtAs, ex.GetType().FullName, ex.Message, ex is DbException, threwSynchronously, returnedFaulted,
            ex.InnerException?.GetType().FullName, ex.InnerException?.Message, ex.InnerException is DbException, start, clock.Elapsed.TotalMilliseconds);

    private static Prepared PreparePg(GuardRequest request)
    {
        if (request.Api != "ado" || request.Pg is null)
        {
            throw new ArgumentException("PostgreSQL batches are ADO.NET with a connection string");
        }

        var connection = new NpgsqlConnection(request.Pg);
        connection.Open();
        var command = connection.CreateCommand();
        if (request.Fail is { } fail)
        {
            command.CommandText = $"SELECT 1 / @d AS {request.Name}";
            command.Parameters.AddWithValue("d", fail ? 0 : 1);
        }
        else
        {
            command.CommandText = $"SELECT pg_sleep(@seconds) AS {request.Name}";
            command.Parameters.AddWithValue("seconds", request.Ms / 1000.0);
        }

        return new Prepared(
            () => Convert.ToString(command.ExecuteScalar()),
            async () => Convert.ToString(await command.ExecuteScalarAsync()),
            command,
            connection);
    }

    private static Prepared PrepareSqlite(GuardRequest request, int index)
    {
        var connection = Open(request.Run);
        string sql = request.Fail is null
            ? $"SELECT guard_sleep(@ms, @name) AS {request.Name}"
            : $"SELECT guard_fail(@fail, @name) AS {request.Name}";
        var parameters = new { ms = request.Ms, name = request.Name, fail = request.Fail == true ? 1 : 0 };
        switch (request.Api)
        {
            case "ado":
                var command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.AddWithValue("@ms", parameters.ms);
                command.Parameters.AddWithValue("@name", parameters.name);
                command.Parameters.AddWithValue("@fail", parameters.fail);
                return new Prepared(
                    () => Convert.ToString(command.ExecuteScalar()),
                    async () => Convert.ToString(await command.ExecuteScalarAsync()),
                    command,
                    connection);
            case "dapper":
                return new Prepared(
                    () => string.Join(",", connection.Query<long>(sql, parameters)),
                    async () => string.Join(",", await connection.QueryAsync<long>(sql, parameters)),
                    connection);
#if NET10_0_OR_GREATER
            case "ef":
                return GuardEf.Query(connection, request.Name, request.Ms);
            case "ef-save":
                // Failing: every insert takes id 1, which exists; else one new id per execution.
                return GuardEf.Save(connection, request.Fail == true ? 1 : request.Id + index, request.Name);
#endif
            default:
                connection.Dispose();
                throw new ArgumentException($"unknown api {request.Api} for SQLite on this runtime");
        }
    }

    /// <summary>A connection to the run's file with the counting functions registered (they live per connection).</summary>
    public static SqliteConnection Open(string run)
    {
        var connection = new SqliteConnection($"Data Source={File(run)}");
        connection.Open();
        connection.CreateFunction("guard_sleep", (long ms, string name) =>
        {
            s_executions.AddOrUpdate(Key(run, name), 1, (_, n) => n + 1);
            if (ms > 0)
            {
                Thread.Sleep((int)ms);
            }

            return ms;
        });
        connection.CreateFunction("guard_fail", (long fail, string name) =>
        {
            s_executions.AddOrUpdate(Key(run, name), 1, (_, n) => n + 1);
            return fail != 0 ? throw new InvalidOperationException($"guard_fail raised for {name}") : 0L;
        });
        return connection;
    }

    /// <summary>
    /// The run's database: a row to query, and a table of orders (id 1 taken) whose inserts are
    /// counted inside the engine by a BEFORE trigger — which runs before the key is checked, so
    /// failing inserts count too.
    /// </summary>
    private static string Create(string run)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string file = Path.Combine(Directory, $"guard-{run}.db");
        using var connection = new SqliteConnection($"Data Source={file}");
        connection.Open();
        connection.CreateFunction("guard_sleep", (long ms, string name) => ms);
        connection.Execute("""
            CREATE TABLE guard_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            INSERT INTO guard_rows (id, name) VALUES (1, 'one');
            CREATE TABLE guard_orders (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            INSERT INTO guard_orders (id, name) VALUES (1, 'first');
            CREATE TRIGGER guard_orders_count BEFORE INSERT ON guard_orders BEGIN SELECT guard_sleep(0, 'insert'); END;
            """);
        return file;
    }

    private static string Key(string run, string name) => run + "|" + name;

    /// <summary>One execution ready to go: what to call, and what to dispose after.</summary>
    public sealed class Prepared : IDisposable
    {
        private readonly IDisposable[] _owned;

        public Prepared(Func<string?> run, Func<Task<string?>> runAsync, params IDisposable[] owned)
        {
            Run = run;
            RunAsync = runAsync;
            _owned = owned;
        }

        public Func<string?> Run { get; }

        public Func<Task<string?>> RunAsync { get; }

        public void Dispose()
        {
            foreach (var owned in _owned)
            {
                owned.Dispose();
            }
        }
    }
}
