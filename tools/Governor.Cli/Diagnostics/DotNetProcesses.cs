using Microsoft.Diagnostics.NETCore.Client;

namespace Governor.Cli.Diagnostics;

/// <summary>The process ids that have a .NET diagnostic port we can open.</summary>
internal static class DotNetProcesses
{
    public static IReadOnlyList<int> List()
    {
        try
        {
            // Also finds processes with another TMPDIR, by reading each /proc/<pid>/environ.
            return DiagnosticsClient.GetPublishedProcesses().Distinct().Order().ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // That /proc scan throws on entries it cannot read (kernel threads in some
            // sandboxes answer ESRCH); the ports in our own TMPDIR are what we can reach anyway.
            return Local();
        }
    }

    // The runtime's default port: $TMPDIR/dotnet-diagnostic-<pid>-<disambiguation>-socket.
    private static List<int> Local()
    {
        var pids = new HashSet<int>();
        foreach (string socket in Directory.EnumerateFiles(Path.GetTempPath(), "dotnet-diagnostic-*-socket"))
        {
            string[] parts = Path.GetFileName(socket).Split('-');
            if (parts.Length >= 5 && int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid) && TargetProcess.Exists(pid))
            {
                pids.Add(pid);
            }
        }

        return pids.Order().ToList();
    }
}
