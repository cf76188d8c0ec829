using System.CommandLine;

namespace Governor.Cli.Attach;

/// <summary>The options shared by run, launch and env: which home, which plugins off, which rules.</summary>
internal sealed class AttachOptions
{
    public Option<string?> Home { get; } = Commands.Cli.HomeOption();

    public Option<string?> PluginsDisabled { get; } = Commands.Cli.PluginsDisabledOption();

    public Option<string?> Rules { get; } = Commands.Cli.RulesOption();

    public void AddTo(Command command)
    {
        command.Options.Add(Home);
        command.Options.Add(PluginsDisabled);
        command.Options.Add(Rules);
    }

    /// <summary>Resolves and checks the options; every problem is a usage error that names the fix.</summary>
    public AgentEnvironmentRequest Resolve(ParseResult parse)
    {
        var home = AgentHome.Resolve(parse.GetValue(Home));
        var disabled = new List<string>();
        string? list = parse.GetValue(PluginsDisabled);
        if (list is not null)
        {
            var known = home.ReadManifests().Select(m => m.Name).ToList();
            foreach (string name in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string? match = known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
                if (match is null)
                {
                    throw CliException.Usage(
                        $"--plugins-disabled names unknown plugin '{name}'.",
                        $"Plugins in {home.Path}: {(known.Count == 0 ? "(none installed)" : string.Join(", ", known))}.");
                }

                if (!disabled.Contains(match))
                {
                    disabled.Add(match);
                }
            }

            if (disabled.Count == 0)
            {
                throw CliException.Usage("--plugins-disabled needs at least one plugin name, e.g. --plugins-disabled throttle,sqlguard.");
            }
        }

        string? rules = parse.GetValue(Rules);
        if (rules is not null)
        {
            if (!Directory.Exists(rules))
            {
                throw CliException.Usage($"--rules '{rules}' is not a directory.", "Create it or pass the folder that holds your rule files (*.yaml, *.json).");
            }

            rules = Path.GetFullPath(rules);
        }

        return new AgentEnvironmentRequest(home, disabled, rules);
    }
}
