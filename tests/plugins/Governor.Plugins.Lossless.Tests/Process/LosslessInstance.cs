using System.Diagnostics;
using Governor.Testing;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// One app process on 127.0.0.1, with the agent attached (its probes on their own free port) or
/// without it. Without the agent, readiness is the app's own <c>/health</c> on its port: what a
/// Kubernetes readiness probe on the app usually is.
/// </summary>
public sealed class LosslessInstance : IDisposable
{
    /// <summary>Short drain for tests: longer than the test load balancer's 1 s pool delay plus its probe period.</summary>
    public const string TestDrainDelay = "1.5s";

    private static readonly HttpClient s_probe = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(2) };

    private LosslessInstance(string name, AppProcess process, int appPort, int probePort, AgentHomeCopy? home)
    {
        Name = name;
        Process = process;
        AppPort = appPort;
        ProbePort = probePort;
        Home = home;
    }

    public string Name { get; }

    public AppProcess Process { get; }

    public int AppPort { get; }

    /// <summary>The agent's probe port; 0 without the agent.</summary>
    public int ProbePort { get; }

    public AgentHomeCopy? Home { get; }

    public bool HasAgent => Home is not null;

    public string AppUrl => $"http://127.0.0.1:{AppPort}";

    public string ReadyUrl => HasAgent ? $"http://127.0.0.1:{ProbePort}/governor/ready" : AppUrl + "/health";

    public string LiveUrl => $"http://127.0.0.1:{ProbePort}/governor/live";

    public static LosslessInstance Start(PublishedApp app, AgentHomeCopy? home, string name, Dictionary<string, string?>? settings = null, string extraArguments = "")
    {
        int appPort = AppProcess.FreePort();
        int probePort = home is null ? 0 : AppProcess.FreePort();
        Dictionary<string, string?> env;
        if (home is null)
        {
            env = new Dictionary<string, string?>();
        }
        else
        {
            var extra = new Dictionary<string, string?>
            {
                ["GOVERNOR_PROBE_PORT"] = probePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY"] = TestDrainDelay,
            };
            foreach (var (k, v) in settings ?? new())
            {
                extra[k] = v;
            }

            env = home.Environment(extra);
        }

        var process = AppProcess.Start(app, $"--urls http://127.0.0.1:{appPort} --name {name} {extraArguments}".Trim(), env);
        return new LosslessInstance(name, process, appPort, probePort, home);
    }

    /// <summary>GET without throwing: (status, body), or (0, the error) when nothing answered.</summary>
    public static async Task<(int Status, string Body)> ProbeAsync(string url)
    {
        try
        {
            using var response = await s_probe.GetAsync(url);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return (0, ex.GetType().Name);
        }
    }

    /// <summary>Waits until the app itself serves (its /health), whatever the agent's readiness says.</summary>
    public Task WaitServingAsync() => WaitAsync(AppUrl + "/health", null);

    public Task WaitReadyAsync(TimeSpan? timeout = null) => WaitAsync(ReadyUrl, timeout);

    private async Task WaitAsync(string url, TimeSpan? timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < (timeout ?? TimeSpan.FromSeconds(60)))
        {
            if (Process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {Process.ExitCode}. Output:\n{Process.Output}\n{Home?.ReadLogs()}");
            }

            if ((await ProbeAsync(url)).Status == 200)
            {
                return;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"{Name} did not answer 200 on {url} within {timeout ?? TimeSpan.FromSeconds(60)}. Output:\n{Process.Output}\n{Home?.ReadLogs()}");
    }

    public async Task<bool> WaitExitAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Process.HasExited && clock.Elapsed < timeout)
        {
            await Task.Delay(20);
        }

        return Process.HasExited;
    }

    public void Dispose() => Process.Dispose();
}
