using System.Text.Json;
using Governor.Testing;

namespace Governor.Plugins.Outbound.Testing;

/// <summary>
/// The agent home and the OutboundApp processes the outbound and SQL process tests share: one
/// home (built-in plugins plus the recording, blocking and context probe test plugins), one
/// grpc-js server, and each (runtime, variant) app started once on first use and reused by every
/// test that needs it — tests tell their records apart by a run id in the <c>x-case</c> header or
/// the SQL text. Linked into both test projects.
/// </summary>
public sealed class OutboundAppsFixture : IDisposable
{
    public const string BlockBody = "blocked by the outbound test plugin";
    public const string GrpcBlockMessage = "throttled by governor, ça va";
    public const int BlockStatus = 429;
    public const int GrpcBlockStatus = 8;

    private readonly Dictionary<string, OutboundApp> _apps = new(StringComparer.Ordinal);
    private readonly Lazy<GrpcJsPeer> _grpc = new(GrpcJsPeer.StartServer);
    private readonly Lazy<PostgresServer> _postgres = new(() => PostgresServer.Start(new PostgresServerOptions { PgStatStatements = false, LogStatements = true }));

    public OutboundAppsFixture()
    {
        Home = new AgentHomeCopy();
        Home.AddTestPlugin("rec", "Governor.TestPlugins.OutboundSqlRecordingPlugin", order: 0, interceptionPoints: new[] { "outbound", "sql" });
        Home.AddTestPlugin("block", "Governor.TestPlugins.OutboundSqlBlockingPlugin", order: 0, interceptionPoints: new[] { "outbound", "sql" });
        Home.AddTestPlugin("probe", "Governor.TestPlugins.ContextProbePlugin", order: 0);
        // Creates a request context for inbound requests (through the aspnetcore plugin) unless
        // they carry x-no-context, as a governance plugin attaching a traffic label would.
        Home.AddTestPlugin("inrec", "Governor.TestPlugins.InboundRecordingPlugin", order: 0, interceptionPoints: new[] { "inbound" });
    }

    public AgentHomeCopy Home { get; }

    public GrpcJsPeer Grpc => _grpc.Value;

    public PostgresServer Postgres => _postgres.Value;

    /// <summary>
    /// An app on <paramref name="tfm"/>: "patch" (default environment), "r2r" (the launcher's
    /// DOTNET_ReadyToRunExcludeList), "listener" (GOVERNOR_PATCHING=off).
    /// </summary>
    public OutboundApp Get(string tfm, string variant = "patch")
    {
        string key = $"{tfm}-{variant}";
        lock (_apps)
        {
            if (!_apps.TryGetValue(key, out var app) || app.Process.HasExited)
            {
                app?.Dispose();
                var extra = variant switch
                {
                    "r2r" => new Dictionary<string, string?> { ["DOTNET_ReadyToRunExcludeList"] = "System.Data.Common;System.Net.Http" },
                    "listener" => new Dictionary<string, string?> { ["GOVERNOR_PATCHING"] = "off" },
                    _ => new Dictionary<string, string?>(),
                };
                app = OutboundApp.Start(Home, tfm, Path.Combine(Home.LogDirectory, $"records-{key}.jsonl"), extra);
                _apps[key] = app;
            }

            return app;
        }
    }

    public void Dispose()
    {
        foreach (var app in _apps.Values)
        {
            app.Dispose();
        }

        if (_grpc.IsValueCreated)
        {
            _grpc.Value.Dispose();
        }

        if (_postgres.IsValueCreated)
        {
            _postgres.Value.Dispose();
        }

        Home.Dispose();
    }
}

/// <summary>A running OutboundApp with the agent attached, and its record file.</summary>
public sealed class OutboundApp : IDisposable
{
    private static readonly System.Net.Http.HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(60) };

    private OutboundApp(AppProcess process, int port, string recordFile, AgentHomeCopy home)
    {
        Process = process;
        Port = port;
        RecordFile = recordFile;
        Home = home;
    }

    public AppProcess Process { get; }

    public int Port { get; }

    public string RecordFile { get; }

    public AgentHomeCopy Home { get; }

    public string BaseAddress => $"http://127.0.0.1:{Port}";

    /// <summary>The settings of the test plugins: what the tests below rely on.</summary>
    public static Dictionary<string, string?> PluginSettings(string recordFile) => new()
    {
        ["GOVERNOR_PLUGINS__REC__FILE"] = recordFile,
        ["GOVERNOR_PLUGINS__INREC__FILE"] = recordFile + ".inbound",
        ["GOVERNOR_PLUGINS__REC__HEADERS"] = "x-case,x-block",
        ["GOVERNOR_PLUGINS__REC__ADDHEADER"] = "x-governor-recorded=rec",
        ["GOVERNOR_PLUGINS__REC__ORDER"] = "0",
        ["GOVERNOR_PLUGINS__BLOCK__ORDER"] = "10",
        ["GOVERNOR_PLUGINS__BLOCK__HEADER"] = "x-block",
        ["GOVERNOR_PLUGINS__BLOCK__STATUS"] = OutboundAppsFixture.BlockStatus.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["GOVERNOR_PLUGINS__BLOCK__BODY"] = OutboundAppsFixture.BlockBody,
        ["GOVERNOR_PLUGINS__BLOCK__GRPCSTATUS"] = OutboundAppsFixture.GrpcBlockStatus.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["GOVERNOR_PLUGINS__BLOCK__GRPCMESSAGE"] = OutboundAppsFixture.GrpcBlockMessage,
        ["GOVERNOR_PLUGINS__BLOCK__RETRYPATH"] = "/count/,/greet.Greeter/SayHello",
        ["GOVERNOR_PLUGINS__BLOCK__REROUTEPATH"] = "/reroute/",
        ["GOVERNOR_PLUGINS__BLOCK__SQLPATTERN"] = "blockme",
    };

    public static OutboundApp Start(AgentHomeCopy home, string tfm, string recordFile, Dictionary<string, string?> extra)
    {
        var published = TestApps.Publish("tests/apps/OutboundApp", tfm);
        int port = AppProcess.FreePort();
        var settings = PluginSettings(recordFile);
        // The blocking plugin reroutes /reroute/ calls to this app's own port.
        settings["GOVERNOR_PLUGINS__BLOCK__REROUTEPORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (k, v) in extra)
        {
            settings[k] = v;
        }

        var process = AppProcess.StartWeb(published, port, home.Environment(settings), timeout: TimeSpan.FromSeconds(60));
        return new OutboundApp(process, port, recordFile, home);
    }

    public static string NewRun() => Guid.NewGuid().ToString("N")[..10];

    /// <summary>
    /// GETs a driver endpoint and returns the app's JSON result array. The driver request itself
    /// is an inbound request: it gets a request context only when <paramref name="inboundContext"/>.
    /// </summary>
    public async Task<List<JsonElement>> Run(string pathAndQuery, bool inboundContext = false)
    {
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, BaseAddress + pathAndQuery);
            if (!inboundContext)
            {
                request.Headers.Add("x-no-context", "1");
            }

            response = await s_http.SendAsync(request);
        }
        catch (HttpRequestException ex)
        {
            string exit = Process.HasExited ? $"exited with {Process.ExitCode}" : "still running";
            throw new InvalidOperationException($"{pathAndQuery} failed ({ex.Message}); the app {exit}. Output:\n{Process.Output}", ex);
        }

        using var _ = response;
        string body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{pathAndQuery} answered {(int)response.StatusCode}: {body}\nApp output:\n{Process.Output}\nAgent log:\n{AgentLog()}");
        }

        using var json = JsonDocument.Parse(body);
        return json.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    public static JsonElement Case(IEnumerable<JsonElement> results, string name) =>
        results.FirstOrDefault(r => r.GetProperty("case").GetString() == name) is { ValueKind: JsonValueKind.Object } found
            ? found
            : throw new InvalidOperationException($"no result for case {name} in: {string.Join(", ", results.Select(r => r.GetProperty("case").GetString()))}");

    /// <summary>
    /// The records matching <paramref name="predicate"/>, waiting until at least
    /// <paramref name="count"/> are there (completions may be written just after the app answered).
    /// </summary>
    public List<JsonElement> WaitForRecords(Func<JsonElement, bool> predicate, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var found = Records().Where(predicate).ToList();
            if (found.Count >= count || DateTime.UtcNow > deadline)
            {
                return found;
            }

            Thread.Sleep(25);
        }
    }

    /// <summary>Outbound records whose x-case header is <paramref name="caseName"/>.</summary>
    public List<JsonElement> OutboundRecords(string caseName, int count = 1) =>
        WaitForRecords(r => r.GetProperty("kind").GetString() == "outbound" && r.GetProperty("headers").GetProperty("x-case").GetString() == caseName, count);

    /// <summary>SQL records of the case <paramref name="name"/> (text marker <c>/*case:NAME*/</c>, <c>/*case:NAME blockme*/</c> or EF Core's <c>-- case:NAME</c> tag).</summary>
    public List<JsonElement> SqlRecords(string name, int count = 1) =>
        SqlRecordsWhere(text => text.Contains($"case:{name}*/", StringComparison.Ordinal) || text.Contains($"case:{name} ", StringComparison.Ordinal) || text.Contains($"-- case:{name}\n", StringComparison.Ordinal), count);

    public List<JsonElement> SqlRecordsWhere(Func<string, bool> text, int count = 1) =>
        WaitForRecords(r => r.GetProperty("kind").GetString() == "sql" && text(r.GetProperty("text").GetString()!), count);

    public List<JsonElement> Records() => JsonLines.Read(RecordFile);

    /// <summary>The agent's log of this process.</summary>
    public string AgentLog()
    {
        var text = new System.Text.StringBuilder();
        foreach (string file in Directory.EnumerateFiles(Home.LogDirectory, $"*-{Process.Id}-*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            text.Append(reader.ReadToEnd());
        }

        return text.ToString();
    }

    /// <summary>The status detail of a plugin in this process.</summary>
    public string PluginDetail(string plugin)
    {
        var status = Home.Status(Process.Id).WaitFor(s => StatusFile.PluginState(s, plugin) == "Started" || StatusFile.PluginState(s, plugin) == "Failed", what: $"{plugin} started");
        return StatusFile.Plugin(status, plugin)!.Value.GetProperty("detail").GetString() ?? string.Empty;
    }

    public void Dispose() => Process.Dispose();
}
