using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Governor.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Governor.Plugins.Throttle.Tests.Process;

/// <summary>
/// The throttle's end-to-end setting: the agent home as built (aspnetcore and throttle plugins),
/// the rules of every scenario, and one ThrottleWebApp process (net10.0, Kestrel with an HTTP/1.1
/// and an h2c endpoint) with the agent attached through DOTNET_STARTUP_HOOKS only. Each scenario
/// has its own resource, so the tests share the process. Load always comes from other
/// processes: the load generator (tests/load) and the grpc-js load script (tests/grpc-peer).
/// </summary>
public sealed class ThrottleAppFixture : IDisposable
{
    public const string RateFallbackBody = "Too many requests (e2e)";

    /// <summary>Every scenario's strategies, fallbacks and rules (the OpenSergo example is added from the docs, as written).</summary>
    public const string Rules = """
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-100
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: 100
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: HttpRequestFallbackAction
        metadata:
          name: fb-rate
        spec:
          behavior: ReturnProvidedResponse
          behaviorDesc:
            responseStatusCode: 429
            responseContentBody: "Too many requests (e2e)"
            responseAdditionalHeaders:
              - key: X-Throttled
                value: rate
              - key: Retry-After
                value: "1"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: rate
        spec:
          targets:
            - targetResourceName: /load/rate
            - targetResourceName: /greet.Greeter/SayHello
          strategies:
            - name: rl-100
          fallbackAction: fb-rate
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-warm
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: 100
          statDuration: "1s"
          warmUpPeriodSec: 5
          coldFactor: 3
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: ThrottlingStrategy
        metadata:
          name: queue-100ms
        spec:
          minIntervalOfRequests: 100ms
          queueTimeout: 500ms
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: ThrottlingStrategy
        metadata:
          name: queue-1s
        spec:
          minIntervalOfRequests: 1s
          queueTimeout: 10s
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: ConcurrencyLimitStrategy
        metadata:
          name: cl-5
        spec:
          maxConcurrency: 5
          limitMode: Local
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-20
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: 20
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: shapes
        spec:
          targets:
            - targetResourceName: /load/warm
          strategies:
            - name: rl-warm
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: queue
        spec:
          targets:
            - targetResourceName: /load/queue
          strategies:
            - name: queue-100ms
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: slow-queue
        spec:
          targets:
            - targetResourceName: /load/leaving
          strategies:
            - name: queue-1s
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: concurrency
        spec:
          targets:
            - targetResourceName: /load/concurrent
          strategies:
            - name: cl-5
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: orders-route
        spec:
          targets:
            - targetResourceName: /orders/{id}
          strategies:
            - name: rl-20
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: get-only
        spec:
          targets:
            - targetResourceName: 'GET:/load/method'
          strategies:
            - name: rl-20
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-observed
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: 10
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: observed
          labels:
            throttle.governor.io/observe: "true"
        spec:
          targets:
            - targetResourceName: /load/observed
          strategies:
            - name: rl-observed
        """;

    public ThrottleAppFixture()
    {
        Http1Port = AppProcess.FreePort();
        Http2Port = AppProcess.FreePort();
        Home = new AgentHomeCopy();
        Home.WriteRule("e2e.yaml", Rules);
        Home.WriteRule("opensergo-foo.yaml", OpenSergoExample());
        Home.WriteRule("reload.yaml", ReloadRule("reload", "/load/reload", 100));
        Home.WriteRule("reload-outbound.yaml", ReloadRule("reload-outbound", DownstreamResource("reload-outbound"), 100));
        Home.WriteRule("outbound.yaml", OutboundRules(Http1Port));
        LoadGenerator = TestApps.Publish("tests/load/Governor.LoadGenerator", "net10.0");
        var app = TestApps.Publish("tests/apps/ThrottleWebApp", "net10.0");
        string arguments = $"--Kestrel:Endpoints:h1:Url=http://127.0.0.1:{Http1Port} --Kestrel:Endpoints:h2:Url=http://127.0.0.1:{Http2Port} --Kestrel:Endpoints:h2:Protocols=Http2";
        App = AppProcess.Start(app, arguments, Home.Environment());
        try
        {
            App.WaitForHttp(Http1 + "/", TimeSpan.FromSeconds(60));
            Status = Home.Status(App.Id);
            Status.WaitFor(s => StatusFile.PluginState(s, "throttle") == "Started" && StatusFile.Counter(s, "throttle", "/orders/{id}", "passed") is not null, TimeSpan.FromSeconds(30), "the throttle plugin started with the rules");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public AgentHomeCopy Home { get; }

    public AppProcess App { get; }

    public PublishedApp LoadGenerator { get; }

    public StatusFile Status { get; private set; } = null!;

    public int Http1Port { get; }

    public int Http2Port { get; }

    public string Http1 => $"http://127.0.0.1:{Http1Port}";

    /// <summary>The first YAML example of the throttle section of docs/config.md, exactly as the docs show it.</summary>
    public static string OpenSergoExample()
    {
        string doc = File.ReadAllText(RepoPaths.Combine("docs", "config.md"));
        int section = doc.IndexOf("\n## Throttle plugin configuration", StringComparison.Ordinal);
        if (section < 0)
        {
            throw new InvalidOperationException("docs/config.md has no '## Throttle plugin configuration' section: the OpenSergo example this test uses lives there");
        }

        int start = doc.IndexOf("```yaml\n", section, StringComparison.Ordinal) + "```yaml\n".Length;
        return doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)];
    }

    /// <summary>A rate limit of <paramref name="threshold"/> per second on <paramref name="target"/>, in a file of its own (hot reload rewrites it).</summary>
    public static string ReloadRule(string name, string target, int threshold) => $"""
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-{name}
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: {threshold}
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: {name}
        spec:
          targets:
            - targetResourceName: '{target}'
          strategies:
            - name: rl-{name}
        """;

    /// <summary>
    /// Outbound resources: the app calls itself (its /load/{name} endpoints) through HttpClient,
    /// and the throttle limits those calls by host, port and path. 5 per second with the rate
    /// fallback; nothing at all (threshold 0) for the exception test.
    /// </summary>
    public static string OutboundRules(int port) => $"""
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-outbound-5
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: 5
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rl-outbound-none
        spec:
          metricType: RequestAmount
          limitMode: Local
          threshold: 0
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: outbound
        spec:
          targets:
            - targetResourceName: '127.0.0.1:{port}/load/downstream'
          strategies:
            - name: rl-outbound-5
          fallbackAction: fb-rate
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: outbound-refused
        spec:
          targets:
            - targetResourceName: '127.0.0.1:{port}/load/refused'
          strategies:
            - name: rl-outbound-none
        """;

    /// <summary>The outbound resource name of the app's own /load/{name} endpoint, as the rules write it.</summary>
    public string DownstreamResource(string name) => $"127.0.0.1:{Http1Port}/load/{name}";

    /// <summary>
    /// The app's endpoint that makes an outbound call to its own /load/{name}; the calls that get
    /// through are also recorded under call-{name} with the time the app made them.
    /// </summary>
    public string CallUrl(string name) => $"{Http1}/call?record=call-{name}&url={Uri.EscapeDataString($"{Http1}/load/{name}")}";

    /// <summary>Runs the load generator (another process, without the agent) and returns its summary.</summary>
    public LoadResult Load(string arguments)
    {
        var (file, args) = LoadGenerator.Command(arguments);
        var (code, output) = TestApps.Run(file, args, TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"load generator {arguments} exited with {code}:\n{output}");
        string json = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last(l => l.StartsWith('{'));
        return new LoadResult(JsonDocument.Parse(json).RootElement.Clone());
    }

    /// <summary>Offers load from the load generator, then reads what the app served under <paramref name="name"/>.</summary>
    public (LoadResult Load, Served Served) Offer(ITestOutputHelper output, string arguments, string name)
    {
        var load = Load(arguments);
        var served = Served(name);
        output.WriteLine($"sent {load.Sent}, served {served.Count}, answers {string.Join("; ", load.Signatures)}; scheduler lag max {load.MaxLagMs:F0} ms");
        return (load, served);
    }

    /// <summary>What the app served under <paramref name="name"/>: its own server-side record.</summary>
    public Served Served(string name)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        string json;
        try
        {
            json = client.GetStringAsync($"{Http1}/_stats/{name}").GetAwaiter().GetResult();
        }
        catch (HttpRequestException ex)
        {
            throw new InvalidOperationException($"The app did not answer /_stats/{name}. {Diagnose()}", ex);
        }

        var root = JsonDocument.Parse(json).RootElement;
        return new Served(root.GetProperty("count").GetInt32(), root.GetProperty("maxInFlight").GetInt32(), root.GetProperty("timesMs").EnumerateArray().Select(e => e.GetDouble()).Order().ToArray());
    }

    /// <summary>
    /// <c>governor status &lt;pid&gt;</c> (the CLI as a process, live over EventPipe from the
    /// agent's EventSource): the JSON form and the table an operator reads.
    /// </summary>
    public (JsonElement Json, string Table) CliStatus()
    {
        string cli = typeof(ThrottleAppFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "GovernorCli").Value!;
        string pid = App.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (code, output) = TestApps.Run("dotnet", $"\"{cli}\" status {pid} --json", TimeSpan.FromMinutes(1));
        Assert.True(code == 0, $"governor status --json exited with {code}:\n{output}");
        var json = JsonDocument.Parse(output[output.IndexOf('{', StringComparison.Ordinal)..]).RootElement.Clone();
        var (tableCode, table) = TestApps.Run("dotnet", $"\"{cli}\" status {pid}", TimeSpan.FromMinutes(1));
        Assert.True(tableCode == 0, $"governor status exited with {tableCode}:\n{table}");
        return (json, table);
    }

    /// <summary>For a failure's message: whether the app still runs, its output and the agent's log.</summary>
    public string Diagnose() => $"app exited: {App.HasExited}{(App.HasExited ? $" (code {App.ExitCode})" : string.Empty)}\napp output:\n{App.Output}\nagent log:\n{Home.ReadLogs()}";

    /// <summary>Agent log lines that contain every one of <paramref name="parts"/>.</summary>
    public int LogLines(params string[] parts) => Home.ReadLogs().Split('\n').Count(line => parts.All(p => line.Contains(p, StringComparison.Ordinal)));

    public void Dispose()
    {
        App?.Dispose();
        Home.Dispose();
    }

    /// <summary>This process's CLOCK_MONOTONIC in ms: the clock the app's record (and the throttle) use.</summary>
    public static double NowMs() => Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThrottleProcessCollection : ICollectionFixture<ThrottleAppFixture>
{
    public const string Name = "throttle processes";
}

/// <summary>
/// The outbound scenarios' own app process (same rules, same app): the app calls itself through
/// HttpClient under load, and whatever happens to that process stays out of the inbound scenarios.
/// </summary>
public sealed class OutboundThrottleAppFixture : IDisposable
{
    public OutboundThrottleAppFixture()
    {
        Grpc = GrpcJsPeer.StartServer();
        try
        {
            App = new ThrottleAppFixture();
            // The peer's port is known only now: its rule comes as a change (2 calls per minute).
            App.Home.WriteRule("grpc-outbound.yaml", $"""
                apiVersion: fault-tolerance.opensergo.io/v1alpha1
                kind: RateLimitStrategy
                metadata:
                  name: rl-2-per-minute
                spec:
                  metricType: RequestAmount
                  limitMode: Local
                  threshold: 2
                  statDuration: "1min"
                ---
                apiVersion: fault-tolerance.opensergo.io/v1alpha1
                kind: FaultToleranceRule
                metadata:
                  name: grpc-outbound
                spec:
                  targets:
                    - targetResourceName: '{GrpcResource}'
                  strategies:
                    - name: rl-2-per-minute
                  fallbackAction: fb-rate
                """);
            App.Status.WaitFor(s => StatusFile.Counter(s, "throttle", GrpcResource, "passed") is not null, TimeSpan.FromSeconds(30), "the gRPC peer's rule");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public ThrottleAppFixture App { get; } = null!;

    /// <summary>A grpc-js server (greet.Greeter) the app calls.</summary>
    public GrpcJsPeer Grpc { get; }

    /// <summary>The outbound resource name of the peer's SayHello method.</summary>
    public string GrpcResource => $"{Grpc.Address}/greet.Greeter/SayHello";

    public void Dispose()
    {
        App?.Dispose();
        Grpc.Dispose();
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OutboundThrottleProcessCollection : ICollectionFixture<OutboundThrottleAppFixture>
{
    public const string Name = "throttle outbound processes";
}

/// <summary>Reads the throttle's resources from a status document.</summary>
public static class ThrottleStatus
{
    public static long Gauge(JsonElement status, string resource, string gauge) => Resource(status, resource).GetProperty("gauges").GetProperty(gauge).GetInt64();

    public static string? State(JsonElement status, string resource) => Resource(status, resource).GetProperty("state").GetString();

    public static JsonElement Resource(JsonElement status, string resource)
    {
        foreach (var r in status.GetProperty("resources").EnumerateArray())
        {
            if (r.GetProperty("plugin").GetString() == "throttle" && r.GetProperty("resource").GetString() == resource)
            {
                return r;
            }
        }

        throw new InvalidOperationException($"no resource {resource} in {status.GetRawText()}");
    }
}

/// <summary>The app's record of one name: requests served, most at once, arrival times (ms, monotonic clock, sorted).</summary>
public sealed record Served(int Count, int MaxInFlight, double[] TimesMs)
{
    /// <summary>Requests served per whole second of the monotonic clock (the seconds the throttle's windows use).</summary>
    public Dictionary<long, int> PerSecond() => TimesMs.GroupBy(t => (long)Math.Floor(t / 1000)).ToDictionary(g => g.Key, g => g.Count());
}

/// <summary>The load generator's summary.</summary>
public sealed class LoadResult
{
    public LoadResult(JsonElement root) => Root = root;

    public JsonElement Root { get; }

    public int Sent => Root.GetProperty("sent").GetInt32();

    public double MaxLagMs => Root.GetProperty("maxLagMs").GetDouble();

    public int Status(int code) => Root.GetProperty("statuses").TryGetProperty(code.ToString(System.Globalization.CultureInfo.InvariantCulture), out var n) ? n.GetInt32() : 0;

    public Dictionary<string, int> Signatures => Root.GetProperty("signatures").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());

    public Dictionary<long, int> SentPerSecond => Root.GetProperty("sentPerSecond").EnumerateObject().ToDictionary(p => long.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture), p => p.Value.GetInt32());

    public double Latency(int status, string which) => Root.GetProperty("latencyMs").GetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).GetProperty(which).GetDouble();

    public override string ToString() => Root.GetRawText();
}
