using System.Globalization;
using Governor.Testing;

namespace Governor.Benchmarks.Process;

/// <summary>The <c>compare</c> subcommand's arguments.</summary>
internal sealed record CompareOptions(int Rate, int Seconds, int Warmup, int Rounds, string Home, bool WithProxy, string? Output)
{
    public const string Usage = "usage: dotnet run --project benchmarks/Governor.Benchmarks.Process -c Release -- compare [--rate N (1000)] [--seconds N (20)] [--warmup N (5)] [--rounds N (2)] [--home DIR] [--no-proxy] [--out FILE]";

    public static CompareOptions? Parse(string[] args, out string? error)
    {
        error = null;
        var o = new CompareOptions(1000, 20, 5, 2, RepoPaths.AgentHome, true, null);
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            int number = value is not null && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : -1;
            switch (arg)
            {
                case "--no-proxy":
                    o = o with { WithProxy = false };
                    continue;
                case "--home" or "--out" when value is not null:
                    o = arg == "--home" ? o with { Home = Path.GetFullPath(value) } : o with { Output = Path.GetFullPath(value) };
                    break;
                case "--rate" or "--seconds" or "--warmup" or "--rounds" when number > 0:
                    o = arg switch
                    {
                        "--rate" => o with { Rate = number },
                        "--seconds" => o with { Seconds = number },
                        "--warmup" => o with { Warmup = number },
                        _ => o with { Rounds = number },
                    };
                    break;
                default:
                    error = $"'{arg}'{(value is null ? string.Empty : " " + value)}: unknown option, or its value is missing or not a positive whole number";
                    return null;
            }

            i++;
        }

        return o;
    }
}
