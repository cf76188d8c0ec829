using System.CommandLine;
using Governor.Cli.Attach;
using Governor.Cli.Output;

namespace Governor.Cli.Commands;

/// <summary><c>governor run [options] -- program args...</c>: the program with the agent attached through its environment.</summary>
internal static class RunCommand
{
    public static Command Create(Terminal terminal)
    {
        var options = new AttachOptions();
        var program = ProgramArgument();
        var command = new Command("run", "Run a program with the Governor agent attached: sets DOTNET_STARTUP_HOOKS (appended to any existing hooks) and every variable the agent and its enabled plugins need, forwards SIGTERM/SIGINT/SIGQUIT/SIGHUP, and exits with the program's exit code (127 when it is not found).");
        options.AddTo(command);
        command.Arguments.Add(program);
        command.SetAction(async (parse, _) =>
        {
            var words = CommandOf(parse, program);
            var request = options.Resolve(parse);
            var variables = AgentEnvironment.For(request);
            using var child = ChildProcess.Start(words, env => AgentEnvironment.ApplyTo(env, variables));
            return await child.WaitAsync().ConfigureAwait(false);
        });
        return command;
    }

    public static Argument<string[]> ProgramArgument() => new("command")
    {
        Description = "The program and its arguments, after '--' (e.g. -- dotnet app.dll --urls http://+:8080).",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public static IReadOnlyList<string> CommandOf(ParseResult parse, Argument<string[]> program)
    {
        string[] words = parse.GetValue(program) ?? Array.Empty<string>();
        if (words.Length == 0 || string.IsNullOrWhiteSpace(words[0]))
        {
            string name = parse.CommandResult.Command.Name;
            throw CliException.Usage($"no program given to '{name}'.", $"Put the program after '--': governor {name} -- dotnet app.dll");
        }

        if (words[0].StartsWith('-'))
        {
            // System.CommandLine hands unknown options to the program argument; a program never starts with '-'.
            string name = parse.CommandResult.Command.Name;
            string known = string.Join(", ", parse.CommandResult.Command.Options.Where(o => !o.Hidden).Select(o => o.Name));
            throw CliException.Usage($"unknown option '{words[0]}' for '{name}' (its options: {known}).", $"Put the program after '--': governor {name} [options] -- dotnet app.dll");
        }

        return words;
    }
}
