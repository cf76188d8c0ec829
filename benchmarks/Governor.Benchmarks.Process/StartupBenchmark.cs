using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using Governor.Testing;

namespace Governor.Benchmarks.Process;

/// <summary>
/// Time from process start to the first successful response, and peak RSS (VmHWM), of the same
/// app without and with the agent (all built-in plugins on), interleaved run by run so that
/// machine noise hits both sides alike.
/// </summary>
internal static class StartupBenchmark
{
    public static int Run(string[] args)
    {
        int runs = 20;
        string appDir = "tests/apps/WebApp";
        string framework = "net10.0";
        string home = RepoPaths.AgentHome;
        var extraEnv = new Dictionary<string, string?>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n > 0:
                    runs = n;
                    i++;
                    break;
                case "--app" when i + 1 < args.Length:
                    appDir = args[++i];
                    break;
                case "--framework" when i + 1 < args.Length:
                    framework = args[++i];
                    break;
                case "--home" when i + 1 < args.Length:
                    home = Path.GetFullPath(args[++i]);
                    break;
                case "--env" when i + 1 < args.Length && args[i + 1].IndexOf('=', StringComparison.Ordinal) > 0:
                    // For the "with agent" side only, e.g. --env GOVERNOR_STARTUP__MODE=blocking.
                    string pair = args[++i];
                    extraEnv[pair[..pair.IndexOf('=', StringComparison.Ordinal)]] = pair[(pair.IndexOf('=', StringComparison.Ordinal) + 1)..];
                    break;
                default:
                    Console.Error.WriteLine($"unknown or incomplete option '{args[i]}'; use --runs N, --app DIR, --framework TFM, --home DIR, --env NAME=VALUE");
                    return 2;
            }
        }

        string hook = Path.Combine(home, "Governor.StartupHook.dll");
        if (!File.Exists(hook))
        {
            Console.Error.WriteLine($"{hook} is missing: build the agent home first (dotnet build -c Release).");
            return 2;
        }

        var app = TestApps.Publish(appDir, framework);
        using var logs = new TempDirectory("governor-bench");
        var without = new List<(double Ms, double RssMb)>();
        var with = new List<(double Ms, double RssMb)>();
        // One warm-up pair so that disk caches are equally warm for both sides.
        Measure(app, null, logs.Path, extraEnv);
        Measure(app, hook, logs.Path, extraEnv);
        for (int i = 0; i < runs; i++)
        {
            without.Add(Measure(app, null, logs.Path, extraEnv));
            with.Add(Measure(app, hook, logs.Path, extraEnv));
        }

        string summary = Directory.GetFiles(logs.Path, "governor-*.log").Select(File.ReadAllText).SelectMany(t => t.Split('\n')).LastOrDefault(l => l.Contains("plugins started in", StringComparison.Ordinal)) ?? "(no summary line)";
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {MachineInfo.CpuModel()}; runtime {framework}; {runs} runs each, interleaved");
        Console.WriteLine($"agent: {summary.Trim()}{(extraEnv.Count == 0 ? string.Empty : $" (with {string.Join(", ", extraEnv.Select(e => $"{e.Key}={e.Value}"))})")}");
        Console.WriteLine("| | first response, median (ms) | p90 (ms) | peak RSS, median (MB) |");
        Console.WriteLine("|---|---|---|---|");
        Row("without agent", without);
        Row("with agent", with);
        Console.WriteLine($"| difference | +{Median(with.Select(w => w.Ms)) - Median(without.Select(w => w.Ms)):0} | | +{Median(with.Select(w => w.RssMb)) - Median(without.Select(w => w.RssMb)):0.0} |");
        return 0;
    }

    private static (double Ms, double RssMb) Measure(PublishedApp app, string? hook, string logDir, Dictionary<string, string?> extraEnv)
    {
        int port = AppProcess.FreePort();
        var env = new Dictionary<string, string?> { ["GOVERNOR_LOG_DIR"] = logDir };
        if (hook is not null)
        {
            env["DOTNET_STARTUP_HOOKS"] = hook;
            foreach (var (name, value) in extraEnv)
            {
                env[name] = value;
            }
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var clock = Stopwatch.StartNew();
        using var process = AppProcess.Start(app, $"--urls http://127.0.0.1:{port}", env);
        while (true)
        {
            try
            {
                using var response = http.GetAsync($"http://127.0.0.1:{port}/").GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(30) || process.HasExited)
            {
                throw new InvalidOperationException($"no response within 30 s: {process.Output}");
            }

            Thread.Sleep(2);
        }

        double ms = clock.Elapsed.TotalMilliseconds;
        // Let the agent finish its background work, including what it defers past the app's
        // startup (log file, patch engine self-test: startup:settleDelay, 1 s), so that peak RSS
        // includes it. Both sides wait alike.
        Thread.Sleep(2000);
        double rss = PeakRssMb(process.Id);
        return (ms, rss);
    }

    private static double PeakRssMb(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
            }
        }

        return double.NaN;
    }

    private static void Row(string name, List<(double Ms, double RssMb)> samples) =>
        Console.WriteLine($"| {name} | {Median(samples.Select(s => s.Ms)):0} | {Percentile(samples.Select(s => s.Ms), 0.9):0} | {Median(samples.Select(s => s.RssMb)):0.0} |");

    private static double Median(IEnumerable<double> values) => Percentile(values, 0.5);

    private static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        double rank = p * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank);
        int hi = (int)Math.Ceiling(rank);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (rank - lo));
    }

}
