using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Governor.Testing;

/// <summary>A published test app: how to start it.</summary>
public sealed record PublishedApp(string Name, string TargetFramework, bool SelfContained, string Directory, string FileName, string ArgumentsPrefix)
{
    /// <summary>The command line for <see cref="AppProcess"/>: the native host for self-contained apps, else "dotnet app.dll".</summary>
    public (string FileName, string Arguments) Command(string arguments) => (FileName, string.IsNullOrEmpty(ArgumentsPrefix) ? arguments : $"{ArgumentsPrefix} {arguments}");
}

/// <summary>
/// Publishes test apps (projects under tests/apps and samples/) once per content change and
/// caches the output under artifacts/test-apps. net8.0 and net9.0 are published self-contained
/// (only the .NET 10 runtime is installed here); net10.0 framework-dependent. Publishing uses a
/// private artifacts path, so it never collides with the solution build, and a cross-process
/// lock, so parallel test assemblies never publish the same project at once.
/// </summary>
public static class TestApps
{
    public static PublishedApp Publish(string projectDirectory, string targetFramework, bool? selfContained = null)
    {
        string projectDir = Path.IsPathRooted(projectDirectory) ? projectDirectory : RepoPaths.Combine(projectDirectory);
        string name = Path.GetFileName(projectDir.TrimEnd('/'));
        bool sc = selfContained ?? targetFramework != "net10.0";
        string outDir = Path.Combine(RepoPaths.TestApps, $"{name}-{targetFramework}{(sc ? "-sc" : string.Empty)}");
        string stamp = Path.Combine(outDir, ".stamp");
        string hash = InputHash(projectDir, targetFramework, sc);
        var result = new PublishedApp(name, targetFramework, sc, outDir, sc ? Path.Combine(outDir, name) : "dotnet", sc ? string.Empty : Path.Combine(outDir, name + ".dll"));

        using var gate = CrossProcessLock.Acquire(Path.Combine(RepoPaths.TestApps, $".{name}.lock"), TimeSpan.FromMinutes(10));
        if (File.Exists(stamp) && File.ReadAllText(stamp) == hash)
        {
            return result;
        }

        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }

        string args = $"publish \"{projectDir}\" -c Release -f {targetFramework} -o \"{outDir}\" --artifacts-path \"{Path.Combine(RepoPaths.TestApps, ".build", name)}\" -nologo -p:TreatWarningsAsErrors=false"
            + (sc ? " -r linux-x64 --self-contained true" : " --self-contained false");
        var (code, output) = Run("dotnet", args, TimeSpan.FromMinutes(8));
        if (code != 0)
        {
            throw new InvalidOperationException($"Publishing {name} for {targetFramework} failed (exit {code}):\n{output}");
        }

        File.WriteAllText(stamp, hash);
        return result;
    }

    public static (int ExitCode, string Output) Run(string fileName, string arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
        };
        // Never attach an agent to the SDK itself.
        psi.Environment.Remove("DOTNET_STARTUP_HOOKS");
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        return Run(psi, timeout);
    }

    /// <summary>Runs a prepared process to its end (or kills it after <paramref name="timeout"/>), returning its exit code and its stdout and stderr interleaved.</summary>
    public static (int ExitCode, string Output) Run(ProcessStartInfo psi, TimeSpan timeout)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}\n{output}");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    private static string InputHash(string projectDir, string tfm, bool sc)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes($"{tfm}|{sc}|"));
        var files = Directory.EnumerateFiles(projectDir, "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Concat(LinkedFiles(projectDir))
            .Concat(new[] { RepoPaths.Combine("Directory.Build.props"), RepoPaths.Combine("Directory.Packages.props") })
            .Where(File.Exists)
            .OrderBy(f => f, StringComparer.Ordinal);
        foreach (string file in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetRelativePath(RepoPaths.Root, file)));
            sha.AppendData(File.ReadAllBytes(file));
        }

        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>Files a project links from outside its folder (<c>&lt;Compile Include="../Other/File.cs" /&gt;</c>): inputs too.</summary>
    private static IEnumerable<string> LinkedFiles(string projectDir)
    {
        foreach (string project in Directory.EnumerateFiles(projectDir, "*.csproj"))
        {
            foreach (System.Text.RegularExpressions.Match link in System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(project), "Include=\"(\\.\\.[/\\\\][^\"*]+)\""))
            {
                yield return Path.GetFullPath(Path.Combine(projectDir, link.Groups[1].Value.Replace('\\', '/')));
            }
        }
    }
}

/// <summary>An exclusive lock held through a file, across processes.</summary>
public sealed class CrossProcessLock : IDisposable
{
    private readonly FileStream _stream;

    private CrossProcessLock(FileStream stream) => _stream = stream;

    public static CrossProcessLock Acquire(string path, TimeSpan timeout)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return new CrossProcessLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
