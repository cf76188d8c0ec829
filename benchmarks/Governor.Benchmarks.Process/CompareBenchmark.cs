using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using Governor.Testing;

namespace Governor.Benchmarks.Process;

/// <summary>
/// The sample app side by side, at one fixed request rate on 127.0.0.1: without the agent, with
/// the agent and every plugin of the home on (rules loaded for each, none tripping), and without
/// the agent behind nginx (a reverse proxy hop on the same machine, standing in for a sidecar).
/// The app is Shop.Orders answering GET /orders/{id}: one SQLite query (Dapper) and one gRPC
/// call to Shop.Inventory, so the inbound, SQL and outbound interception all run. Inventory runs
/// without the agent in every configuration. Configurations are interleaved round by round, each
/// on a fresh process, so machine noise falls on all of them alike.
/// </summary>
internal static class CompareBenchmark
{
    private const string Plain = "without agent";
    private const string Agent = "with agent, all plugins";
    private const string Proxy = "behind nginx";

    public static int Run(string[] args)
    {
        var options = CompareOptions.Parse(args, out string? error);
        if (options is null)
        {
            Console.Error.WriteLine(error);
            Console.Error.WriteLine(CompareOptions.Usage);
            return 2;
        }

        string orders = ShopDll("Shop.Orders");
        string inventory = ShopDll("Shop.Inventory");
        if (!File.Exists(Path.Combine(options.Home, "Governor.StartupHook.dll")))
        {
            Console.Error.WriteLine($"{options.Home} is not an agent home (no Governor.StartupHook.dll): build it with 'dotnet build -c Release'.");
            return 2;
        }

        string? nginx = options.WithProxy ? Nginx.Ensure() : null;
        using var work = new TempDirectory("governor-compare");
        string data = work.Combine("data");
        string rules = work.Combine("rules");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(rules);
        var plugins = AgentAttach.Plugins(options.Home);
        WriteRules(rules, plugins);

        int inventoryPort = AppProcess.FreePort();
        using var inventoryProcess = AppProcess.Start("dotnet", $"\"{inventory}\" --urls http://127.0.0.1:{inventoryPort}", new Dictionary<string, string?> { ["SHOP_DATA_DIR"] = data }, data);
        WaitHttp2(inventoryProcess, inventoryPort);

        var configs = new List<string> { Plain, Agent };
        if (nginx is not null)
        {
            configs.Add(Proxy);
        }

        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {MachineInfo.CpuModel()}, load average {MachineInfo.LoadAverage()}");
        Console.WriteLine($"app: Shop.Orders GET /orders/{{id}} (SQLite via Dapper + gRPC to Shop.Inventory); {options.Rate} requests/s open loop for {options.Seconds} s after {options.Warmup} s of warm-up, {options.Rounds} round(s), configurations interleaved");
        Console.WriteLine($"agent: {options.Home}, plugins {string.Join(", ", plugins)}; rules {string.Join(", ", Directory.GetFiles(rules).Select(Path.GetFileName))}");
        var results = configs.ToDictionary(c => c, _ => new RunTotals(), StringComparer.Ordinal);
        for (int round = 1; round <= options.Rounds; round++)
        {
            // Every other round in reverse order, so that no configuration always runs first.
            foreach (string config in round % 2 == 1 ? configs : Enumerable.Reverse(configs))
            {
                var run = RunOne(config, options, orders, data, rules, work.Path, inventoryPort, nginx);
                results[config].Add(run);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  round {round} {config,-24} {run.Ok / run.Seconds,7:0.0} ok/s  p50 {Percentile(run.LatenciesMs, 0.5),6:0.00} ms  p99 {Percentile(run.LatenciesMs, 0.99),7:0.00} ms  failed {run.Failed}  late sends {run.Late}  CPU {run.CpuSeconds * 1e6 / Math.Max(1, run.Ok),6:0} µs/req  RSS {run.RssMb,5:0.0} MB"));
            }
        }

        string table = Table(results, configs);
        Console.WriteLine();
        Console.WriteLine(table);
        if (options.Output is { } output)
        {
            File.WriteAllText(output, table);
            Console.WriteLine($"written to {output}");
        }

        return 0;
    }

    private static RunResult RunOne(string config, CompareOptions options, string orders, string data, string rules, string work, int inventoryPort, string? nginx)
    {
        int port = AppProcess.FreePort();
        var env = new Dictionary<string, string?>
        {
            ["SHOP_DATA_DIR"] = data,
            ["INVENTORY_URL"] = $"http://127.0.0.1:{inventoryPort}",
        };
        if (config == Agent)
        {
            foreach (var (k, v) in AgentAttach.Environment(options.Home))
            {
                env[k] = v;
            }

            env["GOVERNOR_APP"] = "orders";
            env["GOVERNOR_RULES_DIR"] = rules;
            env["GOVERNOR_LOG_DIR"] = Path.Combine(work, "logs");
            env["GOVERNOR_PROBE_PORT"] = "0";
            env["GOVERNOR_PLUGINS__LOSSLESS__PROBEADDRESS"] = "127.0.0.1";
        }

        using var app = AppProcess.Start("dotnet", $"\"{orders}\" --urls http://127.0.0.1:{port}", env, data);
        app.WaitForHttp($"http://127.0.0.1:{port}/orders/1", TimeSpan.FromSeconds(120));
        Nginx? proxy = null;
        try
        {
            int target = port;
            if (config == Proxy)
            {
                proxy = Nginx.Start(nginx!, Path.Combine(work, $"nginx-{port}"), port);
                target = proxy.Port;
                app.WaitForHttp($"http://127.0.0.1:{target}/orders/1", TimeSpan.FromSeconds(30));
            }

            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(30) };
            string url = $"http://127.0.0.1:{target}/orders/";
            OpenLoop(client, url, options.Rate, TimeSpan.FromSeconds(options.Warmup));
            var pids = proxy is null ? new[] { app.Id } : proxy.ProcessIds().Append(app.Id).ToArray();
            double cpuBefore = pids.Sum(CpuSeconds);
            var run = OpenLoop(client, url, options.Rate, TimeSpan.FromSeconds(options.Seconds));
            double cpu = pids.Sum(CpuSeconds) - cpuBefore;
            double rss = pids.Sum(RssMb);
            return run with { CpuSeconds = cpu, RssMb = rss };
        }
        finally
        {
            proxy?.Dispose();
        }
    }

    /// <summary>
    /// Sends <paramref name="rate"/> requests per second, each at its scheduled time whatever the
    /// answers do; latency is measured from the scheduled time, so a stall shows in the
    /// percentiles instead of lowering the rate (no coordinated omission).
    /// </summary>
    private static RunResult OpenLoop(HttpClient client, string url, int rate, TimeSpan duration)
    {
        long total = (long)(rate * duration.TotalSeconds);
        var latencies = new double[total];
        var pending = new Task[total];
        int failed = 0;
        int late = 0;
        long start = Stopwatch.GetTimestamp();
        for (long i = 0; i < total; i++)
        {
            long due = start + (long)(i * (double)Stopwatch.Frequency / rate);
            while (Stopwatch.GetTimestamp() < due)
            {
                long ms = (due - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency;
                if (ms > 1)
                {
                    Thread.Sleep((int)ms - 1);
                }
                else
                {
                    Thread.SpinWait(50);
                }
            }

            if (Stopwatch.GetElapsedTime(due).TotalMilliseconds > 1)
            {
                late++;
            }

            long index = i;
            pending[i] = SendAsync(client, url + (1 + (i % 50)).ToString(CultureInfo.InvariantCulture), due, latencies, index, () => Interlocked.Increment(ref failed));
        }

        Task.WaitAll(pending);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var ok = latencies.Where(l => l >= 0).ToArray();
        return new RunResult(ok.Length, failed, late, Math.Max(seconds, duration.TotalSeconds), ok, 0, 0);
    }

    private static async Task SendAsync(HttpClient client, string url, long due, double[] latencies, long index, Action fail)
    {
        try
        {
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseContentRead).ConfigureAwait(false);
            latencies[index] = response.StatusCode == HttpStatusCode.OK ? Stopwatch.GetElapsedTime(due).TotalMilliseconds : -1;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                fail();
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            latencies[index] = -1;
            fail();
        }
    }

    private static string Table(Dictionary<string, RunTotals> results, List<string> configs)
    {
        var baseline = results[Plain];
        var text = new StringBuilder();
        text.AppendLine("| configuration | throughput (ok/s) | p50 (ms) | p99 (ms) | CPU per request (µs) | RSS (MB) | failed | sent > 1 ms late | vs. without agent |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (string config in configs)
        {
            var r = results[config];
            string ratio = config == Plain
                ? "—"
                : string.Create(CultureInfo.InvariantCulture, $"throughput {Pct(r.Throughput, baseline.Throughput)}, p50 {Delta(r.P50, baseline.P50)}, p99 {Delta(r.P99, baseline.P99)}, CPU/req ×{r.CpuMicrosPerRequest / baseline.CpuMicrosPerRequest:0.00}, RSS {r.RssMb - baseline.RssMb:+0.0;-0.0} MB");
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {config} | {r.Throughput:0.0} | {r.P50:0.00} | {r.P99:0.00} | {r.CpuMicrosPerRequest:0} | {r.RssMb:0.0} | {r.Failed} | {r.LatePercent:0.0}% | {ratio} |"));
        }

        return text.ToString();

        static string Pct(double value, double baseline) => string.Create(CultureInfo.InvariantCulture, $"{(value / baseline - 1) * 100:+0.0;-0.0;0.0}%");

        static string Delta(double value, double baseline) => Math.Abs(value - baseline) < 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(value - baseline) * 1000:+0;-0;0} µs")
            : string.Create(CultureInfo.InvariantCulture, $"{value - baseline:+0.00;-0.00} ms");
    }

    private static void WriteRules(string directory, IReadOnlyList<string> plugins)
    {
        // Every governance plugin gets a rule that matches the app's traffic and never acts, so
        // the measured cost is the cost of evaluating rules, not of an idle plugin.
        if (plugins.Contains("throttle"))
        {
            File.WriteAllText(Path.Combine(directory, "throttle.yaml"), """
                apiVersion: fault-tolerance.opensergo.io/v1alpha1
                kind: RateLimitStrategy
                metadata:
                  name: generous
                spec:
                  metricType: RequestAmount
                  limitMode: Local
                  threshold: 1000000
                  statDuration: "1s"
                ---
                apiVersion: fault-tolerance.opensergo.io/v1alpha1
                kind: FaultToleranceRule
                metadata:
                  name: orders-limit
                spec:
                  selector:
                    app: orders
                  targets:
                    - targetResourceName: '/orders/{id:int}'
                  strategies:
                    - name: generous
                """);
        }

        if (plugins.Contains("sqlguard"))
        {
            File.WriteAllText(Path.Combine(directory, "sqlguard.yaml"), """
                apiVersion: fault-tolerance.opensergo.io/v1alpha1
                kind: CircuitBreakerStrategy
                metadata:
                  name: very-slow
                spec:
                  strategy: SlowRequestRatio
                  triggerRatio: '90%'
                  statDuration: 1s
                  minRequestAmount: 100
                  recoveryTimeout: 5s
                  slowConditions:
                    maxAllowedRt: 10s
                ---
                apiVersion: fault-tolerance.opensergo.io/v1alpha1
                kind: FaultToleranceRule
                metadata:
                  name: guard-all
                spec:
                  selector:
                    app: orders
                  targets:
                    - targetResourceName: 'sql:*'
                  strategies:
                    - name: very-slow
                """);
        }

        if (plugins.Contains("gray"))
        {
            File.WriteAllText(Path.Combine(directory, "gray.yaml"), """
                apiVersion: traffic.opensergo.io/v1alpha1
                kind: TrafficLabelRule
                metadata:
                  name: testers
                spec:
                  selector:
                    app: orders
                  trafficLabel: gray
                  match:
                  - condition: "=="
                    type: header
                    key: X-User-Id
                    value: nobody-sends-this
                """);
        }
    }

    private static string ShopDll(string name) => typeof(CompareBenchmark).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == name).Value!;

    private static void WaitHttp2(AppProcess process, int port)
    {
        using var client = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            try
            {
                if (client.GetAsync($"http://127.0.0.1:{port}/health").GetAwaiter().GetResult().IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"Shop.Inventory exited: {process.Output}");
                }
            }

            Thread.Sleep(50);
        }

        throw new InvalidOperationException($"Shop.Inventory did not answer within 120 s: {process.Output}");
    }

    /// <summary>utime + stime of a process, in seconds.</summary>
    private static double CpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // Fields 14 and 15 of stat(5), counted from the state field (3): indexes 11 and 12.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static double RssMb(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
            }
        }

        return 0;
    }

    internal static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }


    private sealed record RunResult(int Ok, int Failed, int Late, double Seconds, double[] LatenciesMs, double CpuSeconds, double RssMb);

    /// <summary>The rounds of one configuration together.</summary>
    private sealed class RunTotals
    {
        private readonly List<RunResult> _runs = new();

        public double Throughput => _runs.Sum(r => r.Ok) / _runs.Sum(r => r.Seconds);

        public double P50 => Percentile(_runs.SelectMany(r => r.LatenciesMs).ToList(), 0.5);

        public double P99 => Percentile(_runs.SelectMany(r => r.LatenciesMs).ToList(), 0.99);

        public double CpuMicrosPerRequest => _runs.Sum(r => r.CpuSeconds) * 1e6 / Math.Max(1, _runs.Sum(r => r.Ok));

        public double RssMb => _runs.Average(r => r.RssMb);

        public int Failed => _runs.Sum(r => r.Failed);

        /// <summary>Requests the load generator sent more than 1 ms after their time: how busy the machine was.</summary>
        public double LatePercent => _runs.Sum(r => r.Late) * 100.0 / Math.Max(1, _runs.Sum(r => r.Ok + r.Failed));

        public void Add(RunResult run) => _runs.Add(run);
    }
}
