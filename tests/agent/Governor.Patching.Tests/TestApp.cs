using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Governor.Patching.Tests;

/// <summary>
/// Publishes Governor.Patching.TestApp for net8.0 (self-contained: only .NET 10 is installed) and
/// net10.0 into artifacts/test-apps/, once per change of its inputs, and runs its scenarios.
/// </summary>
internal static class TestApp
{
    private static readonly object _lock = new();
    private static readonly Dictionary<string, string> s_published = new();

    public static string RepoRoot { get; } = FindRepoRoot();

    public static (int ExitCode, string Output) Run(string framework, string scenario, IDictionary<string, string>? environment = null)
    {
        string directory = Publish(framework);
        var start = framework == "net8.0"
            ? new ProcessStartInfo(Path.Combine(directory, "Governor.Patching.TestApp"))
            : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(directory, "Governor.Patching.TestApp.dll") } };
        start.ArgumentList.Add(scenario);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment.Remove("GOVERNOR_PATCHING");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            return (-1, stdout + "\n(timed out)");
        }

        return (process.ExitCode, stdout + stderr.Result);
    }

    private static string Publish(string framework)
    {
        lock (_lock)
        {
            if (s_published.TryGetValue(framework, out var known))
            {
                return known;
            }

            string project = Path.Combine(RepoRoot, "tests/agent/Governor.Patching.TestApp");
            string output = Path.Combine(RepoRoot, "artifacts/test-apps/Governor.Patching.TestApp", framework);
            string stamp = Path.Combine(output, ".inputs");
            string hash = InputsHash(project, Path.Combine(RepoRoot, "agent/Governor.Patching"));
            if (!File.Exists(stamp) || File.ReadAllText(stamp) != hash)
            {
                // The engine is a project reference: its build copies itself into GovernorHome and,
                // in Release, makes ReadyToRun images there. Send both to a scratch folder so this
                // publish never changes the agent home the process tests use, and skip the images.
                // (Global properties: the whole build sees them, the engine is built once.)
                string scratchHome = Path.Combine(RepoRoot, "artifacts/test-apps/.scratch-home/");
                var start = new ProcessStartInfo("dotnet")
                {
                    ArgumentList = { "publish", project, "-f", framework, "-c", "Release", "-o", output, "-nologo", "-v", "q", $"-p:GovernorHome={scratchHome}", "-p:GovernorReadyToRun=false" },
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                using var process = Process.Start(start)!;
                var stderr = process.StandardError.ReadToEndAsync();
                string stdout = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0)
                {
                    throw new InvalidOperationException($"publishing the test app for {framework} failed:\n{stdout}{stderr.Result}");
                }

                File.WriteAllText(stamp, hash);
            }

            s_published[framework] = output;
            return output;
        }
    }

    /// <summary>A hash of the test app's and the engine's sources and of the shared build files.</summary>
    private static string InputsHash(params string[] directories)
    {
        var files = directories
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal) || f.EndsWith(".c", StringComparison.Ordinal) || f.EndsWith(".targets", StringComparison.Ordinal))
            .Concat(new[] { "Directory.Build.props", "Directory.Packages.props", "build/AgentCore.targets", "global.json" }.Select(f => Path.Combine(RepoRoot, f)).Where(File.Exists))
            .OrderBy(f => f, StringComparer.Ordinal);
        using var sha = SHA256.Create();
        foreach (var file in files)
        {
            var name = Encoding.UTF8.GetBytes(file);
            sha.TransformBlock(name, 0, name.Length, null, 0);
            var content = File.ReadAllBytes(file);
            sha.TransformBlock(content, 0, content.Length, null, 0);
        }

        sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
        return Convert.ToHexString(sha.Hash!);
    }

    private static string FindRepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Directory.Packages.props")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
