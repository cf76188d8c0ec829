using System.CommandLine;
using System.CommandLine.Help;
using Governor.Cli;
using Governor.Cli.Commands;
using Governor.Cli.Output;

// The `governor` CLI. Parse errors are ours to report (exit 2, one clear line and a pointer
// to --help) rather than System.CommandLine's default (exit 1 and the whole help text), so
// scripts can tell a usage error from a failed operation.
var terminal = Terminal.FromConsole();
var root = Cli.BuildRoot(terminal);
var parseResult = root.Parse(args);
if (parseResult.Errors.Count > 0 && parseResult.Action is not HelpAction)
{
    foreach (var error in parseResult.Errors)
    {
        terminal.WriteError(Cli.Explain(error.Message, parseResult.CommandResult.Command));
    }

    string commandPath = string.Join(' ', Cli.PathOf(parseResult.CommandResult.Command));
    terminal.Error.WriteLine($"Run '{commandPath} --help' for usage.");
    return ExitCodes.Usage;
}

try
{
    // Signals are handled per command (run forwards them to its child), not by System.CommandLine.
    return await parseResult.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
}
catch (CliException ex)
{
    terminal.WriteError(ex.Message, ex.Hint);
    return ex.ExitCode;
}
catch (OperationCanceledException)
{
    return ExitCodes.Ok;
}
