using System.CommandLine;
using System.Text;
using Governor.Cli.Attach;
using Governor.Cli.Output;

namespace Governor.Cli.Commands;

/// <summary><c>governor env [--shell bash|systemd|pwsh]</c>: the variables that attach the agent, ready to paste or eval.</summary>
internal static class EnvCommand
{
    public static Command Create(Terminal terminal)
    {
        var options = new AttachOptions();
        var shell = new Option<string>("--shell")
        {
            Description = "Output syntax: bash (eval \"$(governor env)\"; appends to existing hooks, idempotent), systemd (Environment= lines for a unit's [Service] section) or pwsh.",
            DefaultValueFactory = _ => "bash",
            HelpName = "bash|systemd|pwsh",
        };
        shell.AcceptOnlyFromAmong("bash", "systemd", "pwsh");
        var command = new Command("env", "Print the environment variables that attach the Governor agent (the same list 'run' sets).");
        options.AddTo(command);
        command.Options.Add(shell);
        command.SetAction(parse =>
        {
            var request = options.Resolve(parse);
            var variables = AgentEnvironment.For(request);
            string text = parse.GetValue(shell) switch
            {
                "systemd" => Systemd(request.Home, variables),
                "pwsh" => Pwsh(request.Home, variables),
                _ => Bash(request.Home, variables),
            };
            terminal.Out.Write(text);
            return ExitCodes.Ok;
        });
        return command;
    }

    // Appends once: evaluating the output twice does not list the hook twice.
    public static string Bash(AgentHome home, IReadOnlyList<EnvVariable> variables) => Render(
        home,
        variables,
        Array.Empty<string>(),
        (v, sep) => $"case \"{sep}${{{v.Name}:-}}{sep}\" in *{BashQuote($"{sep}{v.Value}{sep}")}*) ;; *) export {v.Name}=\"${{{v.Name}:+${v.Name}{sep}}}\"{BashQuote(v.Value)} ;; esac",
        v => $"export {v.Name}={BashQuote(v.Value)}");

    // systemd cannot append to a variable: the comment says how to combine by hand.
    public static string Systemd(AgentHome home, IReadOnlyList<EnvVariable> variables) => Render(
        home,
        variables,
        new[] { "# Add to the [Service] section of the unit (systemctl edit <unit>), then: systemctl restart <unit>" },
        (v, sep) => $"# (systemd cannot append: if the unit already sets {v.Name}, join both values with '{sep}')\nEnvironment={SystemdQuote($"{v.Name}={v.Value}")}",
        v => "Environment=" + SystemdQuote($"{v.Name}={v.Value}"));

    public static string Pwsh(AgentHome home, IReadOnlyList<EnvVariable> variables) => Render(
        home,
        variables,
        Array.Empty<string>(),
        (v, sep) => $"$env:{v.Name} = (@(($env:{v.Name} -split '{sep}') + {PwshQuote(v.Value)}) | Where-Object {{ $_ }} | Select-Object -Unique) -join '{sep}'",
        v => $"$env:{v.Name} = {PwshQuote(v.Value)}");

    private static string Render(AgentHome home, IReadOnlyList<EnvVariable> variables, IEnumerable<string> preamble, Func<EnvVariable, char, string> append, Func<EnvVariable, string> set)
    {
        var b = new StringBuilder();
        b.Append("# Governor agent home: ").Append(home.Path).Append(" (").Append(home.FoundBy).AppendLine(")");
        foreach (string line in preamble)
        {
            b.AppendLine(line);
        }

        foreach (var v in variables)
        {
            b.Append("# ").AppendLine(v.Why);
            b.AppendLine(v.ListSeparator is char sep ? append(v, sep) : set(v));
        }

        return b.ToString();
    }

    public static string BashQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string PwshQuote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    // systemd: '%' starts a specifier; whitespace or quotes need the assignment in double quotes.
    private static string SystemdQuote(string assignment)
    {
        string escaped = assignment.Replace("%", "%%", StringComparison.Ordinal);
        return escaped.Any(c => char.IsWhiteSpace(c) || c is '"' or '\\' or '\'')
            ? "\"" + escaped.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\""
            : escaped;
    }
}
