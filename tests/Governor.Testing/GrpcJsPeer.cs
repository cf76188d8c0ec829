using System.Text.RegularExpressions;

namespace Governor.Testing;

/// <summary>
/// The real gRPC peer in tests/grpc-peer (@grpc/grpc-js on Node): its npm packages are installed
/// on first use when missing (<c>npm ci</c>, from package-lock.json), and <see cref="StartServer"/>
/// runs server.js (greet.Greeter: SayHello echoes x-* metadata back, Fail answers NOT_FOUND) on a
/// free loopback port.
/// </summary>
public sealed class GrpcJsPeer : IDisposable
{
    private static readonly Lazy<string> s_directory = new(Prepare);
    private readonly AppProcess _process;

    private GrpcJsPeer(AppProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public static string Directory => s_directory.Value;

    public int Port { get; }

    /// <summary>"127.0.0.1:port", as gRPC clients name an address.</summary>
    public string Address => $"127.0.0.1:{Port}";

    public static GrpcJsPeer StartServer()
    {
        var process = AppProcess.Start("node", "server.js 0", workingDirectory: Directory);
        try
        {
            if (!process.WaitForOutput("listening ", TimeSpan.FromSeconds(30)))
            {
                throw new InvalidOperationException($"grpc-js server did not start:\n{process.Output}");
            }

            var match = Regex.Match(process.Output, @"listening (\d+)");
            return new GrpcJsPeer(process, int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    public void Dispose() => _process.Dispose();

    private static string Prepare()
    {
        string dir = RepoPaths.Combine("tests", "grpc-peer");
        using var gate = CrossProcessLock.Acquire(Path.Combine(RepoPaths.TestApps, ".grpc-peer.lock"), TimeSpan.FromMinutes(5));
        if (!System.IO.Directory.Exists(Path.Combine(dir, "node_modules", "@grpc", "grpc-js")))
        {
            // .ci/run does this too; here so that 'dotnet test Agent.sln' alone works on a fresh clone.
            var (code, output) = TestApps.Run("npm", "ci --no-audit --no-fund --loglevel=error", TimeSpan.FromMinutes(5), dir);
            if (code != 0)
            {
                throw new InvalidOperationException($"npm ci in {dir} failed ({code}):\n{output}");
            }
        }

        return dir;
    }
}
