using System.CommandLine;
using System.Diagnostics;
using Governor.Cli.Attach;
using Governor.Cli.Output;
using Microsoft.Diagnostics.NETCore.Client;

namespace Governor.Cli.Commands;

/// <summary>
/// <c>governor launch [options] -- program args...</c>: starts the program suspended at its
/// runtime's startup (DOTNET_DefaultDiagnosticPortSuspend=1), then over diagnostics IPC sets the
/// agent's variables, applies the startup hook (ApplyStartupHook, .NET 8 and later) and resumes
/// it. DOTNET_STARTUP_HOOKS is never in the program's environment, so processes it starts do not
/// inherit the agent. The program itself must be the .NET process (not a script that starts one).
/// </summary>
internal static class LaunchCommand
{
    private const string SuspendVariable = "DOTNET_DefaultDiagnosticPortSuspend";

    public static Command Create(Terminal terminal)
    {
        var options = new AttachOptions();
        var program = RunCommand.ProgramArgument();
        var timeout = Cli.TimeoutOption(15, "the program's runtime to open its diagnostic port");
        var command = new Command("launch", "Start a .NET program suspended, attach the agent over its diagnostic port (ApplyStartupHook; .NET 8+) and resume it, without DOTNET_STARTUP_HOOKS in its environment. Forwards signals and exits with the program's exit code.");
        options.AddTo(command);
        command.Options.Add(timeout);
        command.Arguments.Add(program);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var words = RunCommand.CommandOf(parse, program);
            var request = options.Resolve(parse);
            var variables = AgentEnvironment.For(request);
            using var child = ChildProcess.Start(words, env =>
            {
                env[SuspendVariable] = "1";
                // The hook goes over IPC; a Governor hook inherited from our shell would attach twice.
                if (env.TryGetValue(StartupHookContributor.Variable, out string? hooks) && hooks is not null)
                {
                    string rest = string.Join(Path.PathSeparator, AgentHome.SplitHooks(hooks).Where(h => !AgentHome.IsGovernorHook(h)));
                    env[StartupHookContributor.Variable] = rest.Length > 0 ? rest : null;
                }
            });
            try
            {
                await AttachAsync(child.Id, request, variables, TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken).ConfigureAwait(false);
            }
            catch (CliException)
            {
                child.Kill();
                throw;
            }

            return await child.WaitAsync().ConfigureAwait(false);
        });
        return command;
    }

    private static async Task AttachAsync(int pid, AgentEnvironmentRequest request, IReadOnlyList<EnvVariable> variables, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!Diagnostics.DotNetProcesses.List().Contains(pid))
        {
            if (!Diagnostics.TargetProcess.Exists(pid) || IsZombie(pid))
            {
                throw new CliException(ExitCodes.Failure, $"the program (pid {pid}) exited before its .NET runtime opened a diagnostic port.", "launch works only when the program itself is a .NET app (dotnet app.dll or an app host), not a script that starts one; use 'governor run' for scripts.");
            }

            if (clock.Elapsed > timeout)
            {
                throw new CliException(ExitCodes.TargetUnreachable, $"the program (pid {pid}) did not open a .NET diagnostic port within {timeout.TotalSeconds:0.#} s; it was stopped.", "launch needs the program itself to be a .NET app (not a script), with diagnostics enabled (no DOTNET_EnableDiagnostics=0); use 'governor run' otherwise.");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        var client = new DiagnosticsClient(pid);
        try
        {
            foreach (var v in variables.Where(v => v.Name != StartupHookContributor.Variable))
            {
                client.SetEnvironmentVariable(v.Name, v.Value);
            }

            // Children of the program must not start suspended too.
            client.SetEnvironmentVariable(SuspendVariable, "0");
            client.ApplyStartupHook(request.Home.StartupHook);
            client.ResumeRuntime();
        }
        catch (ServerErrorException ex)
        {
            throw new CliException(ExitCodes.Failure, $"the program's runtime refused to attach the agent over IPC: {ex.Message}", "ApplyStartupHook needs .NET 8 or later in the program; use 'governor run' for older runtimes.");
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnauthorizedAccessException or IOException or TimeoutException)
        {
            throw Diagnostics.GovernorSession.Unreachable(pid, ex);
        }
    }

    // An exited child that we have not reaped yet still has /proc/<pid>; its state is Z.
    private static bool IsZombie(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] == 'Z';
        }
        catch (IOException)
        {
            return true;
        }
    }
}
