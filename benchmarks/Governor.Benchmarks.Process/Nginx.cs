using System.Diagnostics;
using System.Globalization;
using Governor.Testing;

namespace Governor.Benchmarks.Process;

/// <summary>
/// nginx from the distribution as a reverse proxy hop on the same machine (a stand-in for a
/// sidecar): its own prefix and configuration, keep-alive to the app, no access log.
/// </summary>
internal sealed class Nginx : IDisposable
{
    private readonly AppProcess _process;

    private Nginx(AppProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The nginx binary; installs Debian's package with apt-get when it is missing.</summary>
    public static string Ensure()
    {
        if (Find() is { } found)
        {
            return found;
        }

        Console.WriteLine("nginx is not installed: apt-get install -y nginx ...");
        if (Run("apt-get", "install -y --no-install-recommends nginx-light") != 0 && Run("apt-get", "install -y --no-install-recommends nginx") != 0)
        {
            // The package lists may be missing (a fresh container): fetch them once and retry.
            Run("apt-get", "update");
            Run("apt-get", "install -y --no-install-recommends nginx");
        }

        return Find() ?? throw new InvalidOperationException("nginx could not be installed (apt-get install -y nginx failed; run it as root, or pass --no-proxy to compare without the proxy hop)");
    }

    public static Nginx Start(string binary, string prefix, int upstreamPort)
    {
        Directory.CreateDirectory(Path.Combine(prefix, "logs"));
        int port = AppProcess.FreePort();
        string conf = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(conf, string.Create(CultureInfo.InvariantCulture, $$"""
            # Two workers, like a sidecar with concurrency 2 on a 2-core node.
            worker_processes 2;
            error_log {{prefix}}/logs/error.log warn;
            pid {{prefix}}/nginx.pid;
            events { worker_connections 4096; }
            http {
              access_log off;
              client_body_temp_path {{prefix}}/body;
              proxy_temp_path {{prefix}}/proxy;
              fastcgi_temp_path {{prefix}}/fastcgi;
              uwsgi_temp_path {{prefix}}/uwsgi;
              scgi_temp_path {{prefix}}/scgi;
              upstream app { server 127.0.0.1:{{upstreamPort}}; keepalive 256; }
              server {
                listen 127.0.0.1:{{port}} backlog=4096;
                keepalive_requests 1000000;
                location / {
                  proxy_pass http://app;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                }
              }
            }
            """));
        var process = AppProcess.Start(binary, $"-p {prefix} -c {conf} -g \"daemon off;\"", null, prefix);
        return new Nginx(process, port);
    }

    /// <summary>The master and its workers (their CPU time and memory count as the proxy's).</summary>
    public IEnumerable<int> ProcessIds()
    {
        yield return _process.Id;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid) && ParentOf(pid) == _process.Id)
            {
                yield return pid;
            }
        }
    }

    public void Dispose() => _process.Dispose();

    private static int ParentOf(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    private static string? Find() => new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx" }.FirstOrDefault(File.Exists);

    private static int Run(string file, string arguments)
    {
        try
        {
            var psi = new ProcessStartInfo(file, arguments) { UseShellExecute = false };
            psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
            using var process = System.Diagnostics.Process.Start(psi)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}
