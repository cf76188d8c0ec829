using System.Globalization;

namespace Governor.Demo;

/// <summary>The tour's command line.</summary>
internal sealed record Options(bool Quick, string OutputDirectory, IReadOnlySet<string> Steps, string AgentHome, bool Keep)
{
    public static readonly string[] AllSteps = { "gray", "throttle", "sql", "restart", "warmup" };

    public const string Usage = """
        usage: dotnet run --project samples/Governor.Demo -c Release -- [options]

        Starts the sample shop (gateway -> orders -> inventory) with the Governor agent attached and
        shows each capability on the running processes, then writes a summary and an HTML report.

          --quick            a short tour (about a minute on an idle 2-core machine)
          --out DIR          where summary.json and report.html go (default: artifacts/demo)
          --only a,b         run only these steps: gray, throttle, sql, restart, warmup
          --home DIR         the agent home (default: artifacts/governor, built by this project)
          --keep             keep the services' agent logs, status files, rules and data (a temp directory)
          -h, --help         this text
        """;

    /// <summary>Parses the arguments; null with <paramref name="error"/> set when they are wrong, or null without it for --help.</summary>
    public static Options? Parse(string[] args, string repoRoot, out string? error)
    {
        error = null;
        bool quick = false;
        bool keep = false;
        string output = Path.Combine(repoRoot, "artifacts", "demo");
        string home = Path.Combine(repoRoot, "artifacts", "governor");
        var steps = new HashSet<string>(AllSteps, StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? Value()
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    return null;
                }

                return args[++i];
            }

            switch (arg)
            {
                case "--quick":
                    quick = true;
                    break;
                case "--keep":
                    keep = true;
                    break;
                case "-h" or "--help":
                    return null;
                case "--out":
                    output = Value() is { } o ? Path.GetFullPath(o) : string.Empty;
                    if (output.Length == 0)
                    {
                        error = "--out needs a directory, e.g. --out /tmp/governor-demo";
                        return null;
                    }

                    break;
                case "--home":
                    home = Value() is { } h ? Path.GetFullPath(h) : string.Empty;
                    if (home.Length == 0 || !File.Exists(Path.Combine(home, "Governor.StartupHook.dll")))
                    {
                        error = home.Length == 0
                            ? "--home needs the agent home directory, e.g. --home artifacts/governor"
                            : $"--home {home}: not an agent home (no Governor.StartupHook.dll there); build one with 'dotnet build -c Release'";
                        return null;
                    }

                    break;
                case "--only":
                    string? list = Value();
                    var chosen = (list ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                    var unknown = chosen.Where(s => !AllSteps.Contains(s, StringComparer.Ordinal)).ToList();
                    if (chosen.Count == 0 || unknown.Count > 0)
                    {
                        error = chosen.Count == 0
                            ? $"--only needs a comma-separated list of steps: {string.Join(", ", AllSteps)}"
                            : string.Create(CultureInfo.InvariantCulture, $"--only: unknown step(s) {string.Join(", ", unknown)}; the steps are {string.Join(", ", AllSteps)}");
                        return null;
                    }

                    steps = chosen.ToHashSet(StringComparer.Ordinal);
                    break;
                default:
                    error = $"unknown argument '{arg}'";
                    return null;
            }
        }

        return new Options(quick, output, steps, home, keep);
    }
}
