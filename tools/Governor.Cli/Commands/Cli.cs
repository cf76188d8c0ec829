using System.CommandLine;
using System.CommandLine.Help;
using Governor.Cli.Output;

namespace Governor.Cli.Commands;

/// <summary>The command tree and the options several commands share.</summary>
internal static class Cli
{
    public static Command BuildRoot(Terminal terminal)
    {
        // A plain Command named "governor" rather than RootCommand, whose name would be the
        // entry assembly's (Governor.Cli) in every usage line; help and version added by hand.
        var root = new Command("governor",
            "governor: attach the Governor agent to .NET processes, see what it does live, validate rules.\n" +
            "Exit codes: 0 ok, 1 errors found or failure, 2 usage error, 3 target not found, 4 Governor not loaded in the target, 5 target unreachable; run/launch return the program's own exit code.");
        root.Options.Add(new HelpOption { Recursive = true });
        root.Options.Add(new VersionOption());
        root.Subcommands.Add(RunCommand.Create(terminal));
        root.Subcommands.Add(LaunchCommand.Create(terminal));
        root.Subcommands.Add(EnvCommand.Create(terminal));
        root.Subcommands.Add(PsCommand.Create(terminal));
        root.Subcommands.Add(StatusCommand.Create(terminal));
        root.Subcommands.Add(RulesCommand.Create(terminal));
        root.SetAction((Func<ParseResult, int>)(_ => throw CliException.Usage("a command is required: run, launch, env, ps, status or rules.", "Run 'governor --help' for usage.")));
        return root;
    }

    public static Option<string?> HomeOption() => new("--home")
    {
        Description = "The agent home (folder with Governor.StartupHook.dll). Default: GOVERNOR_HOME, a Governor hook in DOTNET_STARTUP_HOOKS, or /opt/governor.",
        HelpName = "DIR",
    };

    public static Option<string?> PluginsDisabledOption() => new("--plugins-disabled")
    {
        Description = "Comma-separated plugins to turn off in the target (GOVERNOR_PLUGINS_DISABLED).",
        HelpName = "x,y",
    };

    public static Option<string?> RulesOption() => new("--rules")
    {
        Description = "Rules directory for the target instead of <home>/rules (GOVERNOR_RULES_DIR).",
        HelpName = "DIR",
    };

    public static Option<double> TimeoutOption(double seconds, string what) => new("--timeout")
    {
        Description = $"Seconds to wait for {what} (default {seconds}).",
        HelpName = "SECONDS",
        DefaultValueFactory = _ => seconds,
        CustomParser = r =>
        {
            string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
            if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) && v > 0 && v <= 600)
            {
                return v;
            }

            r.AddError($"--timeout '{text}' is not valid: give seconds between 0 and 600, e.g. --timeout 2.5");
            return seconds;
        },
    };

    /// <summary>The words of a command's path from the root ("governor rules validate").</summary>
    public static IEnumerable<string> PathOf(Command command)
    {
        var names = new List<string>();
        for (Symbol? s = command; s is not null; s = s.Parents.FirstOrDefault())
        {
            names.Add(s.Name);
        }

        names.Reverse();
        return names;
    }

    /// <summary>Adds the fix to System.CommandLine's generic messages where we know it.</summary>
    public static string Explain(string message, Command command)
    {
        if (message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal) && command.Subcommands.Count > 0)
        {
            return $"{message} Commands of '{string.Join(' ', PathOf(command))}': {string.Join(", ", command.Subcommands.Select(c => c.Name))}.";
        }

        return message;
    }
}
