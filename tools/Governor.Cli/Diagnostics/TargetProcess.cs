using System.Diagnostics;
using Governor.Cli.Attach;
using Microsoft.Diagnostics.NETCore.Client;

namespace Governor.Cli.Diagnostics;

/// <summary>Facts about a target process that do not need the agent: existence, .NET-ness, command line, environment.</summary>
internal static class TargetProcess
{
    /// <summary>Throws a <see cref="CliException"/> (exit 3) unless <paramref name="pid"/> is a .NET process we can see.</summary>
    public static void EnsureDotNet(int pid)
    {
        if (pid <= 0)
        {
            throw CliException.Usage($"'{pid}' is not a process id; pass a positive number from 'governor ps'.");
        }

        if (!Exists(pid))
        {
            throw new CliException(ExitCodes.TargetNotFound, $"no process with id {pid}.", "List the .NET processes with 'governor ps'.");
        }

        if (!DotNetProcesses.List().Contains(pid))
        {
            throw new CliException(
                ExitCodes.TargetNotFound,
                $"process {pid} ({CommandLine(pid)}) is not a .NET process with a diagnostic port.",
                "Governor reads status over the .NET diagnostic port: it must be a .NET (Core) process, not started with DOTNET_EnableDiagnostics=0, running as this user with the same TMPDIR (in a container: run governor inside it).");
        }
    }

    public static bool Exists(int pid)
    {
        if (Directory.Exists($"/proc/{pid}"))
        {
            return true;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The command line (from /proc), or the process name, for display.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            string path = $"/proc/{pid}/cmdline";
            if (File.Exists(path))
            {
                string text = File.ReadAllText(path).TrimEnd('\0').Replace('\0', ' ');
                if (text.Length > 0)
                {
                    return text;
                }
            }

            using var process = Process.GetProcessById(pid);
            return process.ProcessName;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return "?";
        }
    }

    /// <summary>The target's environment over diagnostics IPC; null when it cannot be read.</summary>
    public static IReadOnlyDictionary<string, string>? Environment(int pid)
    {
        try
        {
            return new DiagnosticsClient(pid).GetProcessEnvironment();
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnauthorizedAccessException or ServerErrorException or IOException or TimeoutException or EndOfStreamException)
        {
            return null;
        }
    }

    /// <summary>Why Governor is probably not loaded, judged from the target's environment.</summary>
    public static string NoGovernorReason(IReadOnlyDictionary<string, string>? environment)
    {
        if (environment is null)
        {
            return "its environment could not be read";
        }

        environment.TryGetValue("DOTNET_STARTUP_HOOKS", out string? hooks);
        if (!AgentHome.SplitHooks(hooks).Any(AgentHome.IsGovernorHook))
        {
            return "DOTNET_STARTUP_HOOKS does not name Governor.StartupHook.dll";
        }

        if (environment.TryGetValue("GOVERNOR_ENABLED", out string? enabled) && enabled.Trim().ToLowerInvariant() is "false" or "0" or "off" or "no")
        {
            return $"GOVERNOR_ENABLED={enabled} turns it off";
        }

        if (environment.TryGetValue("GOVERNOR_EXCLUDE_PROCESSES", out string? excluded) && excluded.Length > 0)
        {
            return $"the hook is set but the agent did not start; GOVERNOR_EXCLUDE_PROCESSES={excluded} may exclude it (or see governor-startup-<pid>.log in the log folder)";
        }

        return "the hook is set but the agent did not start (the process may be an excluded SDK tool; see governor-startup-<pid>.log in the log folder)";
    }

    /// <summary>The status file the agent of <paramref name="pid"/> writes, from its GOVERNOR_LOG_DIR or the default.</summary>
    public static string StatusFilePath(int pid, IReadOnlyDictionary<string, string>? environment)
    {
        string? dir = null;
        environment?.TryGetValue("GOVERNOR_LOG_DIR", out dir);
        if (string.IsNullOrEmpty(dir))
        {
            string tmp = environment is not null && environment.TryGetValue("TMPDIR", out string? t) && t.Length > 0 ? t : Path.GetTempPath();
            dir = Path.Combine(tmp, "governor");
        }

        return Path.Combine(dir, $"governor-status-{pid}.json");
    }
}
