using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// Runs the throttle benchmarks, e.g.
/// <c>dotnet run -c Release --project benchmarks/Governor.Benchmarks.Throttle -- --filter '*' --job short</c>.
/// Memory is always measured: the pass path must allocate nothing. <c>--cpu-check</c> runs the
/// CPU-time cross-check instead (see <see cref="CpuTimeCheck"/>).
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "--cpu-check")
        {
            CpuTimeCheck.Run();
            return;
        }

        var config = DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
