using System.Text.Json;
using Governor.Plugins.Outbound.Testing;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Process;

/// <summary>
/// The guard's process tests run one at a time (their timing is the point) and share one app
/// process, one agent home and one private PostgreSQL server.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GuardProcessCollection : ICollectionFixture<GuardAppFixture>
{
    public const string Name = "sql guard processes";
}

/// <summary>
/// OutboundApp (net10.0: ADO.NET, Dapper and EF Core) with the built agent attached through
/// DOTNET_STARTUP_HOOKS — built-in plugins only, so the commands go through the real ADO.NET
/// interception plugin into the real SQL guard — and a private PostgreSQL server with
/// every statement in its log. Each test writes its own rule file into the agent's rule directory
/// (hot reload) and targets its own database (a SQLite file or a PostgreSQL database per test),
/// so tests do not see each other's templates.
/// </summary>
public sealed class GuardAppFixture : IDisposable
{
    private readonly Lazy<PostgresServer> _postgres = new(() => PostgresServer.Start(new PostgresServerOptions { Database = "guardwarm", PgStatStatements = false, LogStatements = true }));
    private readonly Dictionary<string, int> _ruleFiles = new(StringComparer.Ordinal);
    private readonly string _tfm;
    private readonly bool _warmPostgres;
    private OutboundApp? _app;

    public GuardAppFixture()
        : this("net10.0", postgres: true)
    {
    }

    /// <summary>An app on <paramref name="tfm"/> (EF Core only on net10.0); <paramref name="postgres"/>: warm up its PostgreSQL path too.</summary>
    internal GuardAppFixture(string tfm, bool postgres)
    {
        _tfm = tfm;
        _warmPostgres = postgres;
    }

    public AgentHomeCopy Home { get; } = new();

    public PostgresServer Postgres => _postgres.Value;

    /// <summary>The app, started on first use and warmed up (JIT, EF Core's model, provider patching).</summary>
    public OutboundApp App
    {
        get
        {
            if (_app is null || _app.Process.HasExited)
            {
                _app?.Dispose();
                var app = OutboundApp.Start(Home, _tfm, Path.Combine(Home.LogDirectory, "records.jsonl"), new Dictionary<string, string?>());
                _app = app;
                WarmUp(app);
            }

            return _app;
        }
    }

    public StatusFile Status => Home.Status(App.Process.Id);

    /// <summary>
    /// Writes (or replaces) a rule file and waits until the guard compiled it:
    /// <paramref name="breakerRules"/> is how many breaker rules the file holds (0 removes it).
    /// </summary>
    public void SetRules(string file, string yaml, int breakerRules = 1)
    {
        var app = App;
        var status = Home.Status(app.Process.Id);
        // A rewrite with as many rules changes only the version: the agent's rules version must
        // pass the one before the write.
        long before = RulesVersion(status.WaitFor(s => true));
        if (breakerRules == 0)
        {
            File.Delete(Path.Combine(Home.RulesDirectory, file));
            _ruleFiles.Remove(file);
        }
        else
        {
            Home.WriteRule(file, yaml);
            _ruleFiles[file] = breakerRules;
        }

        int expected = _ruleFiles.Values.Sum();
        status.WaitFor(
            s => RulesVersion(s) > before && Detail(s)?.StartsWith($"{expected} breaker rule(s)", StringComparison.Ordinal) == true && s.GetProperty("rules").GetProperty("errors").GetArrayLength() == 0,
            TimeSpan.FromSeconds(15),
            $"sqlguard with {expected} breaker rule(s) and no rule errors");
    }

    /// <summary>Runs a batch through /guard/exec and returns what the app saw per execution.</summary>
    public async Task<List<GuardOutcome>> Exec(string db, string api, string run, string name, int ms = 0, int n = 1, bool async = false, bool parallel = true, bool? fail = null, string? pg = null, int id = 1)
    {
        string query = $"/guard/exec?db={db}&api={api}&async={Lower(async)}&run={run}&name={name}&ms={ms}&n={n}&parallel={Lower(parallel)}&id={id}"
            + (fail is { } f ? $"&fail={Lower(f)}" : string.Empty)
            + (pg is null ? string.Empty : $"&pg={Uri.EscapeDataString(pg)}");
        var results = await App.Run(query);
        return results.Select(r => new GuardOutcome(r)).ToList();
    }

    /// <summary>How many times the SQLite engine ran the counting functions for (run, name).</summary>
    public async Task<int> EngineExecutions(string run, string name) =>
        (await App.Run($"/guard/count?run={run}&name={name}"))[0].GetInt32();

    /// <summary>Waits until the status file shows a template resource starting with <paramref name="resourcePrefix"/> in <paramref name="condition"/>; returns it.</summary>
    public JsonElement WaitForTemplate(string resourcePrefix, Func<JsonElement, bool> condition, string what) =>
        Resource(Status.WaitFor(s => Resource(s, resourcePrefix, condition) is not null, TimeSpan.FromSeconds(10), what), resourcePrefix, condition)!.Value;

    /// <summary>The first sqlguard resource whose name starts with <paramref name="prefix"/> and that satisfies <paramref name="condition"/>.</summary>
    public static JsonElement? Resource(JsonElement status, string prefix, Func<JsonElement, bool> condition)
    {
        foreach (var r in status.GetProperty("resources").EnumerateArray())
        {
            if (r.GetProperty("plugin").GetString() == "sqlguard" && r.GetProperty("resource").GetString()!.StartsWith(prefix, StringComparison.Ordinal) && condition(r))
            {
                return r;
            }
        }

        return null;
    }

    /// <summary>A PostgreSQL database of its own for a test.</summary>
    public string CreatePostgresDatabase(string name)
    {
        Postgres.CreateDatabase(name);
        return Postgres.ConnectionString(name);
    }

    /// <summary>
    /// Server log lines that show a statement containing <paramref name="marker"/> reaching
    /// PostgreSQL: "execute" (log_statement = all) for those that ran, "STATEMENT:" for those
    /// that failed (an error while binding, e.g. constant folding 1 / 0, logs only that).
    /// pg_stat_statements would not do: it counts no failed statement, and statements that
    /// differ only in a column alias share one entry.
    /// </summary>
    public List<string> ServerLogLines(string marker) =>
        Postgres.ReadLog().Split('\n').Where(l => l.Contains(marker, StringComparison.Ordinal) && (l.Contains("LOG:  execute ", StringComparison.Ordinal) || l.Contains("STATEMENT:  ", StringComparison.Ordinal))).ToList();

    public static long Counter(JsonElement resource, string name) => resource.GetProperty("counters").GetProperty(name).GetInt64();

    public static string? Detail(JsonElement status) => StatusFile.Plugin(status, "sqlguard") is { } p && p.TryGetProperty("detail", out var d) ? d.GetString() : null;

    /// <summary>The agent log lines of the app that contain every one of <paramref name="parts"/>.</summary>
    public List<string> LogLines(params string[] parts) =>
        App.AgentLog().Split('\n').Where(l => parts.All(p => l.Contains(p, StringComparison.Ordinal))).ToList();

    public void Dispose()
    {
        int? pid = _app?.Process.Id;
        _app?.Dispose();
        if (_postgres.IsValueCreated)
        {
            _postgres.Value.Dispose();
        }

        // The app's SQLite files (GuardScenarios.Directory of that process).
        string files = Path.Combine(Path.GetTempPath(), $"governor-guard-{pid}");
        if (pid is not null && Directory.Exists(files))
        {
            Directory.Delete(files, recursive: true);
        }

        Home.Dispose();
    }

    private static long RulesVersion(JsonElement? status) => status is { } s ? s.GetProperty("rules").GetProperty("version").GetInt64() : 0;

    private static string Lower(bool value) => value ? "true" : "false";

    /// <summary>Every path once, unguarded, so no test's timing includes JIT or EF Core's model building.</summary>
    private void WarmUp(OutboundApp app)
    {
        string[] apis = _tfm == "net10.0" ? new[] { "ado", "dapper", "ef", "ef-save" } : new[] { "ado", "dapper" };
        foreach (string api in apis)
        {
            foreach (bool async in new[] { false, true })
            {
                string query = $"/guard/exec?db=sqlite&api={api}&async={Lower(async)}&run=warm&name=warm&ms=0&n=2&id={(async ? 10 : 20)}";
                app.Run(query).GetAwaiter().GetResult();
                app.Run(query.Replace("name=warm", "name=other_warm", StringComparison.Ordinal).Replace("&id=", "&id=3", StringComparison.Ordinal)).GetAwaiter().GetResult();
            }
        }

        if (!_warmPostgres)
        {
            return;
        }

        string pg = Postgres.ConnectionString();
        foreach (bool async in new[] { false, true })
        {
            app.Run($"/guard/exec?db=pg&api=ado&async={Lower(async)}&run=warm&name=warm&ms=0&n=2&pg={Uri.EscapeDataString(pg)}").GetAwaiter().GetResult();
            app.Run($"/guard/exec?db=pg&api=ado&async={Lower(async)}&run=warm&name=warm&n=2&fail=false&pg={Uri.EscapeDataString(pg)}").GetAwaiter().GetResult();
        }
    }
}

/// <summary>One execution as the app saw it (GuardResult in the app).</summary>
public sealed class GuardOutcome
{
    public GuardOutcome(JsonElement json) => Json = json;

    public JsonElement Json { get; }

    public bool Ok => Json.GetProperty("ok").GetBoolean();

    public string? Value => Json.GetProperty("value").GetString();

    public string? CaughtAs => Json.GetProperty("caughtAs").GetString();

    public string? ErrorType => Json.GetProperty("errorType").GetString();

    public string Error => Json.GetProperty("error").GetString() ?? string.Empty;

    public bool IsDbException => Json.GetProperty("isDbException").GetBoolean();

    public bool ThrewSynchronously => Json.GetProperty("threwSynchronously").GetBoolean();

    public bool ReturnedFaultedTask => Json.GetProperty("returnedFaultedTask").GetBoolean();

    public string? InnerType => Json.GetProperty("innerType").GetString();

    public string InnerError => Json.GetProperty("innerError").GetString() ?? string.Empty;

    public bool InnerIsDbException => Json.GetProperty("innerIsDbException").GetBoolean();

    public double Milliseconds => Json.GetProperty("endMs").GetDouble() - Json.GetProperty("startMs").GetDouble();

    /// <summary>Rejected by the guard: the guard's exception, itself or (EF Core's SaveChanges) as the inner exception.</summary>
    public bool Rejected => ErrorType == GuardException || InnerType == GuardException;

    public const string GuardException = "Governor.Plugins.SqlGuard.SqlGuardOpenException";

    public override string ToString() => Json.GetRawText();

    public static string Describe(IEnumerable<GuardOutcome> outcomes) => string.Join("\n", outcomes.Select(o => o.ToString()));
}
