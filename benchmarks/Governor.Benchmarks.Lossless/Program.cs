using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

namespace Governor.Benchmarks.Lossless;

/// <summary>
/// Runs the lossless benchmarks, e.g.
/// <c>dotnet run -c Release --project benchmarks/Governor.Benchmarks.Lossless -- --filter '*' --job short</c>.
/// Memory is always measured: the request path must allocate nothing.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
