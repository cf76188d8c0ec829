using System.Diagnostics;
using System.Reflection;
using System.Text;
using Governor.Testing;

namespace Governor.Cli.Tests;

/// <summary>The result of one CLI invocation.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs the governor CLI as a real process (<c>dotnet Governor.Cli.dll ...</c>), output
/// redirected (so no colors and no width limit, as in a script). The test runner's own
/// DOTNET_STARTUP_HOOKS and GOVERNOR_* variables are removed first.
/// </summary>
public static class CliRunner
{
    public static string CliPath { get; } = typeof(CliRunner).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "GovernorCli").Value!;

    public static CliResult Run(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        psi.ArgumentList.Add(CliPath);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Clean(psi.Environment, environment);
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"governor {string.Join(' ', args)} did not finish. Output:\n{stdout}\n{stderr}");
        }

        process.WaitForExit();
        lock (stdout)
        {
            lock (stderr)
            {
                return new CliResult(process.ExitCode, stdout.ToString(), stderr.ToString());
            }
        }
    }

    public static CliResult Run(params string[] args) => Run(args, null);

    /// <summary>Starts a long-running CLI command (run, launch, status --watch) as an <see cref="AppProcess"/>.</summary>
    public static AppProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        return AppProcess.Start("dotnet", string.Join(' ', new[] { CliPath }.Concat(args).Select(Quote)), env);
    }

    public static string Quote(string arg) => arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "/-_.:=,+@%".Contains(c)) ? arg : "\"" + arg.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    public static void Clean(IDictionary<string, string?> target, IReadOnlyDictionary<string, string?>? environment)
    {
        foreach (string key in target.Keys.Where(k => k.StartsWith("GOVERNOR_", StringComparison.Ordinal) || k == "DOTNET_STARTUP_HOOKS" || k == "NO_COLOR").ToList())
        {
            target.Remove(key);
        }

        target["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        target["DOTNET_NOLOGO"] = "1";
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                if (v is null)
                {
                    target.Remove(k);
                }
                else
                {
                    target[k] = v;
                }
            }
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails with the last value seen.</summary>
    public static T WaitFor<T>(Func<T> probe, Func<T, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last = probe();
        while (!condition(last))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"never saw {what} within {timeout.TotalSeconds} s. Last:\n{last}");
            }

            Thread.Sleep(50);
            last = probe();
        }

        return last;
    }
}

/// <summary>Tests that start processes run one at a time (2 cores) in this collection.</summary>
[Xunit.CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "cli processes";
}
