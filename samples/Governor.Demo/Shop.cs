using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Governor.Testing;

namespace Governor.Demo;

/// <summary>What a service instance is started with.</summary>
internal sealed record InstanceSpec(string Service, string Name, string Version, string? Tag, bool WithAgent, Dictionary<string, string?> Environment);

/// <summary>
/// Starts the sample services as plain processes (<c>dotnet Shop.X.dll --urls ...</c>), with the
/// agent attached through DOTNET_STARTUP_HOOKS and the variables the agent documents, or without
/// it. Every process started here is tracked, so Ctrl+C and the end of the tour stop them all.
/// </summary>
internal sealed class Shop : IDisposable
{
    private static readonly ConcurrentDictionary<int, AppProcess> s_children = new();
    private readonly Dictionary<string, string> _dlls;

    public Shop(string agentHome, string workDirectory, IReadOnlyDictionary<string, string> serviceDlls)
    {
        AgentHome = agentHome;
        WorkDirectory = workDirectory;
        _dlls = new Dictionary<string, string>(serviceDlls, StringComparer.Ordinal);
        DataDirectory = Path.Combine(workDirectory, "data");
        RulesDirectory = Path.Combine(workDirectory, "rules");
        LogDirectory = Path.Combine(workDirectory, "logs");
        Directory.CreateDirectory(DataDirectory);
        Directory.CreateDirectory(RulesDirectory);
        Directory.CreateDirectory(LogDirectory);
    }

    public string AgentHome { get; }

    public string WorkDirectory { get; }

    public string DataDirectory { get; }

    public string RulesDirectory { get; }

    public string LogDirectory { get; }

    public bool HasPlugin(string name) => File.Exists(Path.Combine(AgentHome, "plugins", name, "plugin.json"));

    public IReadOnlyList<string> Plugins() => AgentAttach.Plugins(AgentHome);

    /// <summary>The app name the rules select (<c>spec.selector.app</c>): Shop.Orders is "orders", whichever lane.</summary>
    public static string AppName(string service) => (service.StartsWith("Shop.", StringComparison.Ordinal) ? service["Shop.".Length..] : service).ToLowerInvariant();

    /// <param name="port">The app's port: 0 takes a free one (rule files that name addresses need them before the start).</param>
    public Instance Start(InstanceSpec spec, int port = 0)
    {
        port = port == 0 ? AppProcess.FreePort() : port;
        int probePort = spec.WithAgent ? AppProcess.FreePort() : 0;
        var env = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["SHOP_VERSION"] = spec.Version,
            ["SHOP_DATA_DIR"] = DataDirectory,
        };
        if (spec.WithAgent)
        {
            foreach (var (k, v) in AgentEnvironment(AppName(spec.Service), spec.Tag, probePort))
            {
                env[k] = v;
            }
        }

        foreach (var (k, v) in spec.Environment)
        {
            env[k] = v;
        }

        var process = AppProcess.Start("dotnet", $"\"{_dlls[spec.Service]}\" --urls http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", env, DataDirectory);
        s_children[process.Id] = process;
        return new Instance(spec, process, port, probePort, this);
    }

    /// <summary>
    /// The variables that attach the agent (<see cref="AgentAttach"/>), plus the service's name
    /// and lane, a private probe port and the tour's rules and log directories.
    /// </summary>
    public Dictionary<string, string?> AgentEnvironment(string app, string? tag, int probePort)
    {
        var env = AgentAttach.Environment(AgentHome);
        env["GOVERNOR_RULES_DIR"] = RulesDirectory;
        env["GOVERNOR_LOG_DIR"] = LogDirectory;
        env["GOVERNOR_APP"] = app;
        env["GOVERNOR_TAG"] = tag;
        env["GOVERNOR_PROBE_PORT"] = probePort.ToString(CultureInfo.InvariantCulture);
        env["GOVERNOR_PLUGINS__LOSSLESS__PROBEADDRESS"] = "127.0.0.1";
        // The tour reads counters from the status file once a second.
        env["GOVERNOR_STATUS_INTERVAL"] = "1s";
        return env;
    }

    /// <summary>Fills ${NAME} placeholders in a committed rule file and writes it to the rules directory the agents watch.</summary>
    public void WriteRules(string templatePath, IReadOnlyDictionary<string, string> values)
    {
        string text = File.ReadAllText(templatePath);
        foreach (var (k, v) in values)
        {
            text = text.Replace("${" + k + "}", v, StringComparison.Ordinal);
        }

        string target = Path.Combine(RulesDirectory, Path.GetFileName(templatePath));
        string tmp = Path.Combine(RulesDirectory, "." + Path.GetFileName(templatePath) + ".tmp");
        File.WriteAllText(tmp, text);
        File.Move(tmp, target, overwrite: true);
    }

    public static int StopAll()
    {
        int stopped = 0;
        foreach (var (pid, process) in s_children)
        {
            if (!process.HasExited)
            {
                stopped++;
            }

            process.Dispose();
            s_children.TryRemove(pid, out _);
        }

        return stopped;
    }

    internal static void Forget(AppProcess process) => s_children.TryRemove(process.Id, out _);

    public void Dispose() => StopAll();
}

/// <summary>One running service process.</summary>
internal sealed class Instance : IDisposable
{
    private static readonly HttpClient s_probe = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(2) };
    private readonly Shop _shop;

    public Instance(InstanceSpec spec, AppProcess process, int port, int probePort, Shop shop)
    {
        Spec = spec;
        Process = process;
        Port = port;
        ProbePort = probePort;
        _shop = shop;
    }

    public InstanceSpec Spec { get; }

    public string Name => Spec.Name;

    public AppProcess Process { get; }

    public int Port { get; }

    public int ProbePort { get; }

    public string Address => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public string Url => "http://" + Address;

    /// <summary>Readiness: the agent's probe when attached and the lossless plugin serves it, else the app's own /health (what a readiness probe on the app usually is).</summary>
    public string ReadyUrl => Spec.WithAgent && _shop.HasPlugin("lossless")
        ? $"http://127.0.0.1:{ProbePort.ToString(CultureInfo.InvariantCulture)}/governor/ready"
        : Url + "/health";

    public StatusFile Status => new(Path.Combine(_shop.LogDirectory, $"governor-status-{Process.Id.ToString(CultureInfo.InvariantCulture)}.json"));

    public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        // The inventory speaks HTTP/2 only: its /health needs an h2c request.
        var version = Spec.Service == "Shop.Inventory" && !ReadyUrl.Contains("/governor/", StringComparison.Ordinal) ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11;
        while (clock.Elapsed < timeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Process.HasExited)
            {
                throw new DemoException($"{Name} exited with code {Process.ExitCode} before it was ready. Its output:\n{Process.Output}");
            }

            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, ReadyUrl) { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
                using var response = await s_probe.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(20, cancellationToken);
        }

        throw new DemoException($"{Name} was not ready within {timeout.TotalSeconds:0} s ({ReadyUrl}). Its output:\n{Process.Output}");
    }

    /// <summary>Polls the status file until <paramref name="condition"/> holds, for at most 10 s (then the caller reports what it read).</summary>
    public async Task WaitForStatusAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!condition() && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>The status file's counter of one resource, or null.</summary>
    public double? Counter(string plugin, string resource, string counter)
    {
        if (Status.TryRead() is not { } status || !status.TryGetProperty("resources", out var resources))
        {
            return null;
        }

        foreach (var r in resources.EnumerateArray())
        {
            if (r.TryGetProperty("plugin", out var p) && p.GetString() == plugin && r.TryGetProperty("resource", out var n) && n.GetString() == resource)
            {
                foreach (string section in new[] { "counters", "gauges" })
                {
                    if (r.TryGetProperty(section, out var values) && values.TryGetProperty(counter, out var v) && v.TryGetDouble(out double d))
                    {
                        return d;
                    }
                }
            }
        }

        return null;
    }

    /// <summary>The state of one resource in the status file (e.g. a breaker's Closed/Open), or null.</summary>
    public string? ResourceState(string plugin, Func<string, bool> resource)
    {
        if (Status.TryRead() is not { } status || !status.TryGetProperty("resources", out var resources))
        {
            return null;
        }

        foreach (var r in resources.EnumerateArray())
        {
            if (r.TryGetProperty("plugin", out var p) && p.GetString() == plugin && r.TryGetProperty("resource", out var n) && n.GetString() is { } name && resource(name))
            {
                return r.TryGetProperty("state", out var s) ? s.GetString() : null;
            }
        }

        return null;
    }

    /// <summary>The plugin's state in the status file (Started, Failed, ...), or null when the agent has not written it.</summary>
    public string? PluginState(string plugin) => Status.TryRead() is { } status ? StatusFile.PluginState(status, plugin) : null;

    public void Terminate() => Process.Terminate();

    public async Task<bool> WaitExitAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Process.HasExited && clock.Elapsed < timeout)
        {
            await Task.Delay(20);
        }

        return Process.HasExited;
    }

    public void Dispose()
    {
        Shop.Forget(Process);
        Process.Dispose();
    }
}

/// <summary>A failure the tour explains in one message (no stack trace).</summary>
internal sealed class DemoException : Exception
{
    public DemoException(string message)
        : base(message)
    {
    }
}
