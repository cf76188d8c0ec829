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

    public static string Bash(AgentHome home, IReadOnlyList<EnvVariable> variables)
    {
        var b = new StringBuilder();
        b.Append("# Governor agent home: ").Append(home.Path).Append(" (").Append(home.FoundBy).AppendLine(")");
        foreach (var v in variables)
        {
            b.Append("# ").AppendLine(v.Why);
            if (v.ListSeparator is char sep)
            {
                // Appends once: evaluating the output twice does not list the hook twice.
                string entry = $"{sep}{v.Value}{sep}";
                b.Append($"case \"{sep}${{{v.Name}:-}}{sep}\" in *{BashQuote(entry)}*) ;; *) export {v.Name}=\"${{{v.Name}:+${v.Name}{sep}}}\"{BashQuote(v.Value)} ;; esac").AppendLine();
            }
            else
            {
                b.Append("export ").Append(v.Name).Append('=').AppendLine(BashQuote(v.Value));
            }
        }

        return b.ToString();
    }

    public static string Systemd(AgentHome home, IReadOnlyList<EnvVariable> variables)
    {
        var b = new StringBuilder();
        b.Append("# Governor agent home: ").Append(home.Path).Append(" (").Append(home.FoundBy).AppendLine(")");
        b.AppendLine("# Add to the [Service] section of the unit (systemctl edit <unit>), then: systemctl restart <unit>");
        foreach (var v in variables)
        {
            b.Append("# ").AppendLine(v.Why);
            if (v.ListSeparator is char sep)
            {
                b.Append("# (systemd cannot append: if the unit already sets ").Append(v.Name).Append(", join both values with '").Append(sep).AppendLine("')");
            }

            b.AppendLine("Environment=" + SystemdQuote($"{v.Name}={v.Value}"));
        }

        return b.ToString();
    }

    public static string Pwsh(AgentHome home, IReadOnlyList<EnvVariable> variables)
    {
        var b = new StringBuilder();
        b.Append("# Governor agent home: ").Append(home.Path).Append(" (").Append(home.FoundBy).AppendLine(")");
        foreach (var v in variables)
        {
            b.Append("# ").AppendLine(v.Why);
            if (v.ListSeparator is char sep)
            {
                b.Append($"$env:{v.Name} = (@(($env:{v.Name} -split '{sep}') + {PwshQuote(v.Value)}) | Where-Object {{ $_ }} | Select-Object -Unique) -join '{sep}'").AppendLine();
            }
            else
            {
                b.Append($"$env:{v.Name} = {PwshQuote(v.Value)}").AppendLine();
            }
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
