using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Governor.Cli.Attach;

/// <summary>
/// A program started by run or launch: inherits our stdin/stdout/stderr, receives the signals
/// we receive (SIGTERM from systemd or Kubernetes must reach the app, not just the wrapper),
/// and its exit code becomes ours (128+N when a signal N ended it, as shells report).
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private static readonly (PosixSignal Signal, int Number)[] s_forwarded =
    {
        (PosixSignal.SIGTERM, 15),
        (PosixSignal.SIGINT, 2),
        (PosixSignal.SIGQUIT, 3),
        (PosixSignal.SIGHUP, 1),
    };

    private readonly Process _process;
    private readonly List<PosixSignalRegistration> _registrations = new();

    private ChildProcess(Process process) => _process = process;

    public int Id => _process.Id;

    /// <summary>Starts the program; a missing or non-executable program is a clear error (127 / 126).</summary>
    public static ChildProcess Start(IReadOnlyList<string> command, Action<IDictionary<string, string?>> configureEnvironment)
    {
        var psi = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string arg in command.Skip(1))
        {
            psi.ArgumentList.Add(arg);
        }

        configureEnvironment(psi.Environment);
        var process = new Process { StartInfo = psi };
        var child = new ChildProcess(process);
        // Registered before the start, so a signal in between is not lost to the default action.
        child.RegisterSignals();
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            child.Dispose();
            throw ex.NativeErrorCode switch
            {
                2 => new CliException(ExitCodes.CommandNotFound, $"command '{command[0]}' not found.", "Give the program's path or a name on PATH, e.g. governor run -- dotnet app.dll"),
                13 => new CliException(ExitCodes.CannotExecute, $"command '{command[0]}' cannot be executed (permission denied).", "Make it executable (chmod +x) or run it through its interpreter (dotnet app.dll)."),
                _ => new CliException(ExitCodes.CannotExecute, $"command '{command[0]}' cannot be started: {ex.Message}"),
            };
        }

        return child;
    }

    public async Task<int> WaitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }

    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        foreach (var r in _registrations)
        {
            r.Dispose();
        }

        _process.Dispose();
    }

    private void RegisterSignals()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        foreach (var (signal, number) in s_forwarded)
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                // We stay alive until the child exits, so its exit code is what the caller sees.
                context.Cancel = true;
                try
                {
                    if (!_process.HasExited)
                    {
                        _ = SendSignal(_process.Id, number);
                    }
                }
                catch (InvalidOperationException)
                {
                    // Not started yet or already gone: nothing to forward to.
                }
            }));
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
