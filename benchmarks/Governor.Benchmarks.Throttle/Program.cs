using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// Runs the throttle benchmarks, e.g.
/// <c>dotnet run -c Release --project benchmarks/Governor.Benchmarks.Throttle -- --filter '*' --job short</c>.
/// Memory is always measured: the pass path must allocate nothing.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
