using System.CommandLine;
using Governor.Cli.Attach;
using Governor.Cli.Output;
using Governor.Cli.Rules;

namespace Governor.Cli.Commands;

/// <summary><c>governor rules validate &lt;dir|file&gt;</c>: the agent's validator, offline, before a rule reaches a process.</summary>
internal static class RulesCommand
{
    public static Command Create(Terminal terminal)
    {
        var rules = new Command("rules", "Work with rule files offline.");
        rules.SetAction((Func<ParseResult, int>)(_ => throw CliException.Usage("'rules' needs a subcommand: governor rules validate <dir|file>.")));

        var path = new Argument<string>("path") { Description = "A rules directory (every *.yaml, *.yml, *.json in it, as the agent reads it) or one rule file." };
        var home = Cli.HomeOption();
        home.Description = "The agent home whose plugins own the rule kinds (default: GOVERNOR_HOME, a Governor hook in DOTNET_STARTUP_HOOKS, /opt/governor). Without one, only the core kinds are known.";
        var validate = new Command("validate", "Validate rule files with the agent's own validator: core kinds plus the kinds of the plugins in the agent home. Prints 'file:line: field: problem' for each error; exits 1 when there is any, 0 when all are valid.");
        validate.Arguments.Add(path);
        validate.Options.Add(home);
        validate.SetAction(parse =>
        {
            AgentHome? agentHome = null;
            string? explicitHome = parse.GetValue(home);
            try
            {
                agentHome = AgentHome.Resolve(explicitHome);
            }
            catch (CliException) when (explicitHome is null)
            {
                terminal.WriteWarning("no agent home found (pass --home DIR or set GOVERNOR_HOME); only the core rule kinds are known, plugin kinds will be reported as unknown.");
            }

            var report = OfflineValidator.Validate(parse.GetValue(path)!, agentHome);
            foreach (string problem in report.PluginProblems)
            {
                terminal.WriteWarning(problem);
            }

            foreach (var error in report.Errors)
            {
                terminal.Out.WriteLine(terminal.Color ? Highlight(terminal, error.ToString()) : error.ToString());
            }

            foreach (string note in report.Notes)
            {
                terminal.Out.WriteLine(terminal.Paint("note: ", Style.Dim) + note);
            }

            string kinds = report.Kinds.Count == 0 ? "none" : string.Join(", ", report.Kinds);
            string files = $"{report.Files.Count} file(s)";
            if (report.Errors.Count > 0)
            {
                int bad = report.Errors.Select(e => e.File).Distinct().Count();
                terminal.Error.WriteLine(terminal.Paint($"{report.Errors.Count} error(s) in {bad} of {files}.", Style.Bad) + $" Kinds known: {kinds}.");
                return ExitCodes.Failure;
            }

            terminal.Error.WriteLine(terminal.Paint($"{files}, {report.Documents} document(s): valid.", Style.Good) + $" Kinds known: {kinds}.");
            return ExitCodes.Ok;
        });
        rules.Subcommands.Add(validate);
        return rules;
    }

    // "file:line:" in bold, the message as is: easy to scan on a terminal.
    private static string Highlight(Terminal terminal, string line)
    {
        int first = line.IndexOf(": ", StringComparison.Ordinal);
        return first < 0 ? line : terminal.Paint(line[..(first + 1)], Style.Bold) + line[(first + 1)..];
    }
}
