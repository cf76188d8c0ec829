using System.Diagnostics;
using System.Text.Json;
using Governor.Plugins.Outbound.Testing;
using Governor.Plugins.SqlGuard.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Process;

/// <summary>
/// Issue 7's acceptance end to end: OutboundApp runs real commands (ADO.NET, Dapper, EF Core; sync
/// and async) on real SQLite and a real PostgreSQL server, the agent attached through
/// DOTNET_STARTUP_HOOKS intercepts them (adonet plugin) and the SQL guard breaks the slow or
/// failing template. Executions are counted where they happen: in PostgreSQL's statement log, and
/// by the counting SQL functions inside the SQLite engine.
/// Each batch releases its executions together, each on its own connection and thread.
/// </summary>
[Collection(GuardProcessCollection.Name)]
public sealed class GuardProcessTests
{
    private const string Slow = "slow_tpl";
    private const string Other = "other_tpl";
    private const int SlowMs = 400;
    private static readonly TimeSpan RecoveryWait = TimeSpan.FromSeconds(1.1);

    private readonly GuardAppFixture _f;

    public GuardProcessTests(GuardAppFixture fixture) => _f = fixture;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Breaker_SlowTemplateOnPostgres_OpensFailsFastWithoutReachingTheServerProbesOnceAndCloses(bool async)
    {
        string run = NewRun();
        string db = "g" + run;
        string pg = _f.CreatePostgresDatabase(db);
        string rule = $"guard-{run}";
        _f.SetRules($"{run}.yaml", TestRules.Breaker(target: $"sql@{db}:*", ruleName: rule, strategyName: $"slow-{run}", maxAllowedRt: "100ms", triggerRatio: "0.5", minRequestAmount: 5, statDuration: "1s", recoveryTimeout: "1s"));
        // The names are the statements' column aliases: part of the template and of the server's log.
        string slow = $"slow_{run}";
        string other = $"other_{run}";
        string resource = $"sql@{db}:SELECT pg_sleep(@seconds) AS {slow}";
        int ServerCalls(string name) => _f.ServerLogLines($"AS {name}").Count;
        Task<List<GuardOutcome>> Exec(string name, int ms, int n, bool parallel = true) => _f.Exec("pg", "ado", run, name, ms, n, async, parallel, pg: pg);

        // 1. Six 500 ms commands at once: once five completed (all slow, 1.0 > 0.5) the breaker opens.
        var first = await Exec(slow, 500, 6);
        var opened = Stopwatch.StartNew();
        int passed = AssertPassedOrRejected(first, atLeast: 5);
        Assert.Equal(passed, ServerCalls(slow));
        _f.WaitForTemplate(resource, r => State(r) == "Open", "the slow template's breaker open");

        // 2. While open: failed fast, as a DbException naming template, rule and retry time, and
        //    never sent to the server; another template of the same database runs.
        var rejected = await Exec(slow, 500, 6, parallel: false);
        foreach (var o in rejected)
        {
            AssertRejectedByOpenBreaker(o, async, $"\"SELECT pg_sleep(@seconds) AS {slow}\" on database '{db}'", rule);
            // Faster than the statement itself (generous: a loaded machine may stall a thread).
            Assert.True(o.Milliseconds < 500, $"a rejection took {o.Milliseconds} ms: {o}");
        }

        var others = await Exec(other, 0, 5);
        Assert.All(others, o => Assert.True(o.Ok, o.ToString()));
        Assert.Equal(5, ServerCalls(other));
        Assert.Equal(passed, ServerCalls(slow));

        // 3. After recoveryTimeout, of five commands at once exactly one (the probe) reaches the
        //    server; it is slow, so the breaker opens again.
        await Until(opened, RecoveryWait);
        var probeRound = await Exec(slow, 500, 5);
        var reopened = Stopwatch.StartNew();
        Assert.True(probeRound.Count(o => o.Ok) == 1, GuardOutcome.Describe(probeRound));
        Assert.All(probeRound.Where(o => !o.Ok), o => AssertRejectedByOpenBreaker(o, async, slow, rule));
        Assert.Equal(passed + 1, ServerCalls(slow));

        // 4. The query is fast again: rejected until recoveryTimeout, then the probe closes the breaker.
        Assert.True((await Exec(slow, 0, 1)).Single().Rejected);
        await Until(reopened, RecoveryWait);
        var probe = (await Exec(slow, 0, 1)).Single();
        Assert.True(probe.Ok, probe.ToString());
        var after = await Exec(slow, 0, 5);
        Assert.All(after, o => Assert.True(o.Ok, o.ToString()));
        Assert.Equal(passed + 1 + 1 + 5, ServerCalls(slow));

        // Status file: state and counters; log: each state change once.
        var status = _f.WaitForTemplate(resource, r => State(r) == "Closed" && GuardAppFixture.Counter(r, "count") == passed + 7, "the slow template closed with its counters");
        Assert.Equal(6 - passed + 6 + 4 + 1, GuardAppFixture.Counter(status, "rejected"));
        Assert.Equal(5, GuardAppFixture.Counter(status, "stateChanges")); // open, half-open, open, half-open, closed
        Assert.True(GuardAppFixture.Counter(status, "slow") >= passed + 1);
        Assert.Single(_f.LogLines("SQL guard opened the breaker of " + resource + ":"));
        Assert.Single(_f.LogLines("SQL guard re-opened the breaker of " + resource + ":"));
        Assert.Equal(2, _f.LogLines("SQL guard half-opened the breaker of " + resource + ":").Count);
        Assert.Single(_f.LogLines("SQL guard closed the breaker of " + resource + ":"));
        _f.SetRules($"{run}.yaml", string.Empty, breakerRules: 0);
    }

    [Theory]
    [InlineData("ado", false)]
    [InlineData("ado", true)]
    [InlineData("dapper", false)]
    [InlineData("dapper", true)]
    [InlineData("ef", false)]
    [InlineData("ef", true)]
    public Task Breaker_SlowTemplateOnSqlite_SameCycleThroughEveryApi(string api, bool async) => SqliteCycle(_f, api, async);

    [Fact]
    public async Task Breaker_SlowTemplateInANet8App_SameCycleThroughDapperAsync()
    {
        // Its own app and agent home: a .NET 8 process (self-contained), no PostgreSQL. Dapper's
        // async query covers the reader detours and the faulted task there.
        using var net8 = new GuardAppFixture("net8.0", postgres: false);

        await SqliteCycle(net8, "dapper", async: true);
    }

    /// <summary>Open within one window, fail fast, other templates run, one probe re-opens, a fast probe closes.</summary>
    private static async Task SqliteCycle(GuardAppFixture f, string api, bool async)
    {
        string run = NewRun();
        string db = $"guard-{run}.db";
        string rule = $"guard-{run}";
        // 400 ms statements against 200 ms: a fast probe on a loaded machine still counts as fast.
        f.SetRules($"{run}.yaml", TestRules.Breaker(target: $"sql@{db}:*", ruleName: rule, strategyName: $"slow-{run}", maxAllowedRt: "200ms", triggerRatio: "0.5", minRequestAmount: 5, statDuration: "1s", recoveryTimeout: "1s"));
        Task<List<GuardOutcome>> Exec(string name, int ms, int n, bool parallel = true) => f.Exec("sqlite", api, run, name, ms, n, async, parallel);
        Task<int> Engine(string name) => f.EngineExecutions(run, name);

        // 1. Opens within one window.
        var first = await Exec(Slow, SlowMs, 6);
        var opened = Stopwatch.StartNew();
        int passed = AssertPassedOrRejected(first, atLeast: 5);
        Assert.Equal(passed, await Engine(Slow));
        var open = f.WaitForTemplate($"sql@{db}:", r => State(r) == "Open", "the slow template's breaker open");
        string resource = open.GetProperty("resource").GetString()!;
        string template = resource[($"sql@{db}:".Length)..];

        // 2. Open: fails fast as the DbException the app (or EF Core, or Dapper) sees; other templates run.
        var rejected = await Exec(Slow, SlowMs, 3, parallel: false);
        Assert.All(rejected, o => AssertRejectedByOpenBreaker(o, async, $"\"{template}\" on database '{db}'", rule));
        Assert.All(rejected, o => Assert.True(o.Milliseconds < SlowMs, $"a rejection took {o.Milliseconds} ms: {o}"));
        var others = await Exec(Other, 0, 3);
        Assert.All(others, o => Assert.True(o.Ok, o.ToString()));
        Assert.Equal(3, await Engine(Other));
        Assert.Equal(passed, await Engine(Slow));

        // 3. One probe of four reaches the engine; slow, it re-opens.
        await Until(opened, RecoveryWait);
        var probeRound = await Exec(Slow, SlowMs, 4);
        var reopened = Stopwatch.StartNew();
        Assert.True(probeRound.Count(o => o.Ok) == 1, GuardOutcome.Describe(probeRound));
        Assert.All(probeRound.Where(o => !o.Ok), o => AssertRejectedByOpenBreaker(o, async, template, rule));
        Assert.Equal(passed + 1, await Engine(Slow));

        // 4. Fast again: the next probe closes it.
        await Until(reopened, RecoveryWait);
        var probe = (await Exec(Slow, 0, 1)).Single();
        Assert.True(probe.Ok, probe.ToString());
        var after = await Exec(Slow, 0, 3);
        Assert.All(after, o => Assert.True(o.Ok, o.ToString()));
        Assert.Equal(passed + 1 + 1 + 3, await Engine(Slow));
        var status = f.WaitForTemplate(resource, r => State(r) == "Closed" && GuardAppFixture.Counter(r, "count") == passed + 5, "the slow template closed with its counters");
        Assert.Equal(6 - passed + 3 + 3, GuardAppFixture.Counter(status, "rejected"));
        Assert.Equal(5, GuardAppFixture.Counter(status, "stateChanges"));
        f.SetRules($"{run}.yaml", string.Empty, breakerRules: 0);
    }

    [Theory]
    [InlineData("pg", "ado")]
    [InlineData("sqlite", "ef-save")]
    public async Task Breaker_FailingTemplate_ErrorRatioOpensAndSuccessfulProbeCloses(string dbKind, string api)
    {
        string run = NewRun();
        bool pg = dbKind == "pg";
        string db = pg ? "g" + run : $"guard-{run}.db";
        string? connection = null;
        if (pg)
        {
            connection = _f.CreatePostgresDatabase(db);
        }

        string name = "err_" + run;
        string rule = $"guard-{run}";
        _f.SetRules($"{run}.yaml", TestRules.Breaker(target: $"sql@{db}:*", strategy: "ErrorRequestRatio", ruleName: rule, strategyName: $"errors-{run}", triggerRatio: "0.5", minRequestAmount: 5, statDuration: "2s", recoveryTimeout: "1s"));
        Task<List<GuardOutcome>> Exec(bool fail, int n, int id = 1) => _f.Exec(dbKind, api, run, name, n: n, parallel: false, fail: fail, pg: connection, id: id);

        // Where the statement is counted: PostgreSQL's log (pg_stat_statements counts only
        // statements that completed); the BEFORE INSERT trigger inside SQLite.
        async Task<int> Reached() => pg ? _f.ServerLogLines($"AS {name}").Count : await _f.EngineExecutions(run, "insert");

        // 1. Five failing executions: the database raises each (division by zero; duplicate key).
        var failing = await Exec(fail: true, n: 5);
        var opened = Stopwatch.StartNew();
        foreach (var o in failing)
        {
            Assert.False(o.Ok || o.Rejected, o.ToString());
            Assert.True(pg ? o.ErrorType == "Npgsql.PostgresException" : (o.ErrorType == "Microsoft.EntityFrameworkCore.DbUpdateException" && o.InnerType == "Microsoft.Data.Sqlite.SqliteException"), o.ToString());
        }

        Assert.True(await Reached() == 5, pg ? string.Join("\n", _f.ServerLogLines(name)) : "SQLite engine count");

        // 2. Open: even the statement that would succeed now fails fast without reaching the database.
        var rejected = (await Exec(fail: false, n: 1, id: 100)).Single();
        AssertRejectedByOpenBreaker(rejected, async: false, $"on database '{db}'", rule);
        Assert.Contains("5 of 5 commands in 2s failed", pg ? rejected.Error : rejected.InnerError);
        Assert.Equal(5, await Reached());

        // 3. After recoveryTimeout the successful probe closes the breaker.
        await Until(opened, RecoveryWait);
        var probe = (await Exec(fail: false, n: 1, id: 101)).Single();
        Assert.True(probe.Ok, probe.ToString());
        var after = await Exec(fail: false, n: 2, id: 102);
        Assert.All(after, o => Assert.True(o.Ok, o + "\n" + string.Join("\n", _f.LogLines(db))));
        Assert.Equal(8, await Reached());
        var status = _f.WaitForTemplate($"sql@{db}:", r => State(r) == "Closed" && GuardAppFixture.Counter(r, "count") == 8, "the failing template closed");
        Assert.Equal(5, GuardAppFixture.Counter(status, "errors"));
        Assert.Equal(1, GuardAppFixture.Counter(status, "rejected"));
        Assert.Equal(3, GuardAppFixture.Counter(status, "stateChanges"));
        _f.SetRules($"{run}.yaml", string.Empty, breakerRules: 0);
    }

    [Fact]
    public async Task Rules_WrittenLabelledAndRemovedInTheRuleDirectory_TheRunningAppFollowsThem()
    {
        string run = NewRun();
        string db = $"guard-{run}.db";
        string file = $"{run}.yaml";
        string resource = $"sql@{db}:SELECT guard_sleep(@ms, @name) AS {Slow}";
        string Rule(string labels = "") => TestRules.Breaker(target: $"sql@{db}:*", ruleName: $"guard-{run}", strategyName: $"slow-{run}", maxAllowedRt: "100ms", recoveryTimeout: "1h", extraRuleLabels: labels);
        Task<List<GuardOutcome>> Exec(int ms, int n) => _f.Exec("sqlite", "ado", run, Slow, ms, n);
        _ = _f.App;

        // No rule for this database: slow commands all run.
        Assert.All(await Exec(SlowMs, 6), o => Assert.True(o.Ok, o.ToString()));

        // A rule file appears: the same traffic opens the breaker.
        _f.SetRules(file, Rule());
        int passed = AssertPassedOrRejected(await Exec(SlowMs, 6), atLeast: 5);
        Assert.True((await Exec(0, 1)).Single().Rejected);
        _f.WaitForTemplate(resource, r => State(r) == "Open", "the breaker open after the rule arrived");

        // The rule is labelled observe: the breaker keeps its state but no command fails.
        _f.SetRules(file, Rule("sqlguard.governor.io/observe: 'true'"));
        _f.WaitForTemplate(resource, r => State(r) == "Open (observe)", "the breaker open in observer mode");
        Assert.All(await Exec(0, 3), o => Assert.True(o.Ok, o.ToString()));
        var observed = _f.WaitForTemplate(resource, r => State(r) == "Open (observe)" && GuardAppFixture.Counter(r, "wouldReject") == 3, "the breaker open in observer mode");
        Assert.Equal(6 - passed + 1, GuardAppFixture.Counter(observed, "rejected"));

        // The rule file goes: the template is unguarded and runs, however slow.
        _f.SetRules(file, string.Empty, breakerRules: 0);
        Assert.All(await Exec(SlowMs, 6), o => Assert.True(o.Ok, o.ToString()));
        _f.WaitForTemplate(resource, r => State(r) == "Unguarded", "the template unguarded after the rule went");
        Assert.Equal(6 + passed + 3 + 6, await _f.EngineExecutions(run, Slow));
    }

    [Fact]
    public void AdoNet_TheAppsProviders_EveryCommandAndReaderMethodIsIntercepted()
    {
        string detail = _f.App.PluginDetail("adonet");

        Assert.Contains("intercepting SQL:", detail);
        Assert.Contains("Microsoft.Data.Sqlite.SqliteDataReader", detail);
        Assert.Contains("Npgsql.NpgsqlDataReader", detail);
        // Close() and Dispose(bool) return void: when the patch engine refused those, a reader's
        // execution completed only when the sweeper noticed, up to a second late.
        Assert.DoesNotContain("not interceptable", detail);
    }

    private static string NewRun() => Guid.NewGuid().ToString("N")[..10];

    private static string? State(JsonElement resource) => resource.TryGetProperty("state", out var s) ? s.GetString() : null;

    /// <summary>
    /// A batch that opens the breaker: commands released together all pass before it opens,
    /// unless a loaded machine starts one after the fifth completed — then it is rejected.
    /// </summary>
    private static int AssertPassedOrRejected(List<GuardOutcome> batch, int atLeast)
    {
        int passed = batch.Count(o => o.Ok);
        Assert.True(passed >= atLeast, GuardOutcome.Describe(batch));
        Assert.All(batch.Where(o => !o.Ok), o => Assert.True(o.Rejected, o.ToString()));
        return passed;
    }

    /// <summary>What the app saw for a command the open breaker failed.</summary>
    private static void AssertRejectedByOpenBreaker(GuardOutcome o, bool async, string templateText, string rule)
    {
        Assert.True(o.Rejected, o.ToString());
        // EF Core's SaveChanges wraps it (DbUpdateException); queries, Dapper and ADO.NET get it as is.
        bool wrapped = o.InnerType == GuardOutcome.GuardException;
        string message = wrapped ? o.InnerError : o.Error;
        Assert.True(wrapped ? o.InnerIsDbException : o.IsDbException && o.CaughtAs == "DbException", o.ToString());
        Assert.Contains("SQL guard: circuit breaker", message);
        Assert.Contains(templateText, message);
        Assert.Contains($"rule '{rule}'", message);
        Assert.Contains("the command was not sent to the database", message);
        Assert.Contains("It will try again ", message);
        Assert.False(o.ThrewSynchronously, $"an async call threw synchronously: {o}");
        Assert.Equal(async, o.ReturnedFaultedTask);
    }

    private static async Task Until(Stopwatch since, TimeSpan elapsed)
    {
        var left = elapsed - since.Elapsed;
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left);
        }
    }
}
