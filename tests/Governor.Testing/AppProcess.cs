using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Governor.Testing;

/// <summary>
/// A real child process (an app under test), with its output captured, signals, and cleanup:
/// a test never leaves a process behind.
/// </summary>
public sealed class AppProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private AppProcess(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    public int Id => _process.Id;

    public string Description { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts a process. The test runner's own DOTNET_STARTUP_HOOKS and GOVERNOR_* variables are
    /// removed first, so only <paramref name="environment"/> decides what is attached.
    /// A null value in <paramref name="environment"/> removes that variable.
    /// </summary>
    public static AppProcess Start(string fileName, string arguments, IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("GOVERNOR_", StringComparison.Ordinal) || k == "DOTNET_STARTUP_HOOKS" || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                if (v is null)
                {
                    psi.Environment.Remove(k);
                }
                else
                {
                    psi.Environment[k] = v;
                }
            }
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var app = new AppProcess(process, $"{fileName} {arguments}");
        process.OutputDataReceived += (_, e) => app.Append(e.Data);
        process.ErrorDataReceived += (_, e) => app.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return app;
    }

    public static AppProcess Start(PublishedApp app, string arguments, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var (file, args) = app.Command(arguments);
        return Start(file, args, environment, app.Directory);
    }

    /// <summary>Starts a web app on 127.0.0.1:<paramref name="port"/> and waits until <paramref name="readyPath"/> answers.</summary>
    public static AppProcess StartWeb(PublishedApp app, int port, IReadOnlyDictionary<string, string?>? environment = null, string readyPath = "/", string extraArguments = "", TimeSpan? timeout = null)
    {
        var process = Start(app, $"--urls http://127.0.0.1:{port} {extraArguments}".Trim(), environment);
        try
        {
            process.WaitForHttp($"http://127.0.0.1:{port}{readyPath}", timeout ?? TimeSpan.FromSeconds(30));
        }
        catch
        {
            process.Dispose();
            throw;
        }

        return process;
    }

    public void WaitForHttp(string url, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (HasExited)
            {
                throw new InvalidOperationException($"{Description} exited with code {ExitCode} before {url} answered. Output:\n{Output}");
            }

            try
            {
                using var response = client.GetAsync(url).GetAwaiter().GetResult();
                if ((int)response.StatusCode < 500)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            Thread.Sleep(50);
        }

        throw new TimeoutException($"{url} did not answer within {timeout}. Output of {Description}:\n{Output}");
    }

    public bool WaitForOutput(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Output.Contains(text, StringComparison.Ordinal))
            {
                return true;
            }

            if (HasExited)
            {
                return Output.Contains(text, StringComparison.Ordinal);
            }

            Thread.Sleep(25);
        }

        return false;
    }

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }

        _process.WaitForExit();
        return true;
    }

    /// <summary>Sends SIGTERM, as Kubernetes does on pod deletion.</summary>
    public void Terminate()
    {
        if (!HasExited)
        {
            _ = Kill(_process.Id, 15);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (Exception)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    /// <summary>
    /// A port nobody listens on, below Linux's ephemeral range (32768-60999). Port 0 would hand out an
    /// ephemeral port, which the load tests' thousands of client connections (in this and the other
    /// test processes running at the same time) may take as their local port before the app binds it
    /// ("address already in use"). Random start per process, never the same port twice per process.
    /// </summary>
    public static int FreePort()
    {
        lock (s_ports)
        {
            for (int attempt = 0; attempt < 2000; attempt++)
            {
                int port = Random.Shared.Next(16000, 32000);
                if (!s_ports.Add(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // Taken: try another.
                }
            }
        }

        using var fallback = new TcpListener(IPAddress.Loopback, 0);
        fallback.Start();
        return ((IPEndPoint)fallback.LocalEndpoint).Port;
    }

    private static readonly HashSet<int> s_ports = new();

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
