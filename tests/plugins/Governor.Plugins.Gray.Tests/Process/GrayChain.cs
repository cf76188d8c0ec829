using System.Net;
using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.Gray.Tests.Process;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GrayProcessCollection
{
    public const string Name = "gray processes";
}

/// <summary>
/// Five real services on 127.0.0.1 with the agent attached through DOTNET_STARTUP_HOOKS only:
/// gateway (base) → a (base, gray) over HTTP, the hop made from Task.Run → b (base, gray) over
/// gRPC. The gateway labels traffic with OpenSergo's documentation example, verbatim (X-User-Id
/// 12345 on /index → gray) and does not trust labels from outside; VirtualWorkloads rules say
/// where each lane's instances are. The apps are unchanged: each one only counts what it served.
/// Distributed tracing is on in every process, and the gateway adds a baggage item of its own.
/// </summary>
public sealed class GrayChain : IDisposable
{
    private readonly AgentHomeCopy _home = new();
    private readonly HttpClient _http1 = new(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { Timeout = TimeSpan.FromSeconds(30) };
    private readonly HttpClient _http2 = new() { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(10) };

    public GrayChain()
    {
        var app = TestApps.Publish("tests/apps/GrayChainApp", "net10.0");
        GatewayPort = AppProcess.FreePort();
        APort = AppProcess.FreePort();
        AGrayPort = AppProcess.FreePort();
        BPort = AppProcess.FreePort();
        BGrayPort = AppProcess.FreePort();
        _home.WriteRule("gray.yaml", string.Join("\n---\n", Fakes.TestRules.OpenSergoExample, Workloads("a", APort, AGrayPort), Workloads("b", BPort, BGrayPort)));

        try
        {
            // Started together: five cold starts one after the other would dominate the suite's time.
            var starts = new[]
            {
                Task.Run(() => Gateway = Start(app, GatewayPort, "gateway", "gateway@base", APort, "my-app", null, untrusting: true)),
                Task.Run(() => A = Start(app, APort, "a", "a@base", BPort, "a", null)),
                Task.Run(() => AGray = Start(app, AGrayPort, "a", "a@gray", BPort, "a", "gray")),
                Task.Run(() => B = Start(app, BPort, "b", "b@base", 1, "b", null)),
                Task.Run(() => BGray = Start(app, BGrayPort, "b", "b@gray", 1, "b", "gray")),
            };
            Task.WaitAll(starts);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int GatewayPort { get; }

    public int APort { get; }

    public int AGrayPort { get; }

    public int BPort { get; }

    public int BGrayPort { get; }

    public AppProcess Gateway { get; private set; } = null!;

    public AppProcess A { get; private set; } = null!;

    public AppProcess AGray { get; private set; } = null!;

    public AppProcess B { get; private set; } = null!;

    public AppProcess BGray { get; private set; } = null!;

    public AgentHomeCopy Home => _home;

    /// <summary>Sends <paramref name="count"/> requests to the gateway (8 at a time) and returns each answer's status and path.</summary>
    public async Task<List<(HttpStatusCode Status, string Via)>> SendAsync(int count, Func<int, HttpRequestMessage> request)
    {
        var results = new (HttpStatusCode, string)[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            using var message = request(i);
            using var response = await _http1.SendAsync(message, ct);
            string body = await response.Content.ReadAsStringAsync(ct);
            string via;
            try
            {
                using var json = JsonDocument.Parse(body);
                via = string.Join(" > ", json.RootElement.GetProperty("via").EnumerateArray().Select(v => v.GetString()));
                if (json.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String)
                {
                    via += " (error: " + error.GetString() + ")";
                }
            }
            catch (JsonException)
            {
                via = "(not JSON) " + body;
            }

            results[i] = (response.StatusCode, via);
        });
        return results.ToList();
    }

    public HttpRequestMessage Request(string path, params (string Name, string Value)[] headers)
    {
        var message = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{GatewayPort}{path}");
        foreach (var (name, value) in headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        return message;
    }

    /// <summary>What one instance served: the count, those whose baggage had the gateway's tenant item, and the labels seen in x-governor-tag and in baggage.</summary>
    public async Task<ServedStats> StatsAsync(int port, bool http2 = false)
    {
        string json = await (http2 ? _http2 : _http1).GetStringAsync($"http://127.0.0.1:{port}/stats");
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        return new ServedStats(
            root.GetProperty("served").GetInt32(),
            root.GetProperty("tenant").GetInt32(),
            root.GetProperty("header").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()),
            root.GetProperty("baggage").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32()));
    }

    public void Dispose()
    {
        foreach (var process in new[] { Gateway, A, AGray, B, BGray })
        {
            process?.Dispose();
        }

        _http1.Dispose();
        _http2.Dispose();
        _home.Dispose();
    }

    private static string Workloads(string service, int basePort, int grayPort) => $"""
        apiVersion: traffic.opensergo.io/v1alpha1
        kind: VirtualWorkloads
        metadata:
          name: {service}-workloads
        spec:
          selector:
            app: {service}
          virtualWorkload:
            - name: {service}-base
              target: 127.0.0.1:{basePort}
              type: address
              selector:
                tag: _base
            - name: {service}-gray
              target: 127.0.0.1:{grayPort}
              type: address
              selector:
                tag: gray
        """;

    private AppProcess Start(PublishedApp app, int port, string role, string servedBy, int nextPort, string appName, string? tag, bool untrusting = false)
    {
        var env = _home.Environment(new Dictionary<string, string?>
        {
            // The httpclient plugin patches System.Net.Http; its precompiled code must be JIT-compiled instead.
            ["DOTNET_ReadyToRunExcludeList"] = "System.Net.Http",
            ["GOVERNOR_APP"] = appName,
            ["GOVERNOR_TAG"] = tag,
            ["GOVERNOR_PLUGINS__GRAY__TRUSTINBOUNDLABEL"] = untrusting ? "false" : null,
            ["ROLE"] = role,
            ["SERVED_BY"] = servedBy,
            ["NEXT_URL"] = $"http://127.0.0.1:{nextPort}",
        });
        if (role != "b")
        {
            return AppProcess.StartWeb(app, port, env, readyPath: "/health", timeout: TimeSpan.FromSeconds(90));
        }

        // b speaks HTTP/2 only (gRPC): the readiness probe must too.
        var process = AppProcess.Start(app, $"--urls http://127.0.0.1:{port}", env);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                using var response = _http2.GetAsync($"http://127.0.0.1:{port}/health").GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode)
                {
                    return process;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
            }
            catch (TaskCanceledException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
            }
            catch (Exception ex)
            {
                process.Dispose();
                throw new InvalidOperationException($"{servedBy} did not start: {ex.Message}\n{process.Output}", ex);
            }

            Thread.Sleep(50);
        }
    }
}

public sealed record ServedStats(int Served, int Tenant, Dictionary<string, int> Header, Dictionary<string, int> Baggage)
{
    public int HeaderLabel(string label) => Header.TryGetValue(label, out int n) ? n : 0;

    public int BaggageLabel(string label) => Baggage.TryGetValue(label, out int n) ? n : 0;
}
