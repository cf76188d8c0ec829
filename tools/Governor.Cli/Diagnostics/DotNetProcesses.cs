using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;

namespace Governor.Cli.Diagnostics;

/// <summary>
/// The process ids that have a live .NET diagnostic port. A runtime names its port
/// <c>$TMPDIR/dotnet-diagnostic-&lt;pid&gt;-&lt;key&gt;-socket</c>, where the key is the process start
/// time (field 22 of /proc/&lt;pid&gt;/stat). A process killed with SIGKILL leaves its socket
/// behind, and its pid is later reused (by a thread id, or by another program), so a port counts
/// only when its key matches the start time of the process that has that pid now.
/// </summary>
internal static class DotNetProcesses
{
    public static IReadOnlyList<int> List()
    {
        var pids = new SortedSet<int>();
        foreach (var (pid, key) in Sockets(Path.GetTempPath(), "*"))
        {
            if (IsLive(pid, key))
            {
                pids.Add(pid);
            }
        }

        // Processes with another TMPDIR (read from their environment by the diagnostics client).
        IEnumerable<int> published;
        try
        {
            published = DiagnosticsClient.GetPublishedProcesses();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Its /proc scan throws on entries it cannot read (ESRCH in some sandboxes).
            published = Array.Empty<int>();
        }

        foreach (int pid in published.Where(p => !pids.Contains(p)))
        {
            string tmp = TmpDirOf(pid);
            if (Sockets(tmp, pid.ToString(CultureInfo.InvariantCulture)).Any(s => IsLive(pid, s.Key)))
            {
                pids.Add(pid);
            }
        }

        return pids.ToList();
    }

    private static IEnumerable<(int Pid, string Key)> Sockets(string directory, string pidPattern)
    {
        IEnumerable<string> files;
        try
        {
            files = Directory.EnumerateFiles(directory, $"dotnet-diagnostic-{pidPattern}-*-socket").ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            yield break;
        }

        foreach (string socket in files)
        {
            string[] parts = Path.GetFileName(socket).Split('-');
            if (parts.Length == 5 && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                yield return (pid, parts[3]);
            }
        }
    }

    private static bool IsLive(int pid, string key)
    {
        if (!OperatingSystem.IsLinux())
        {
            return TargetProcess.Exists(pid);
        }

        try
        {
            // Fields after "(comm)": state is field 3, so the start time (field 22) is the 20th.
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            string[] fields = stat[(close + 2)..].Split(' ');
            return fields.Length > 19 && fields[19] == key && fields[0] != "Z";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    private static string TmpDirOf(int pid)
    {
        try
        {
            foreach (string entry in File.ReadAllText($"/proc/{pid}/environ").Split('\0'))
            {
                if (entry.StartsWith("TMPDIR=", StringComparison.Ordinal) && entry.Length > 7)
                {
                    return entry[7..];
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not ours to read: the default below.
        }

        return "/tmp";
    }
}
