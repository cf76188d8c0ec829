using BenchmarkDotNet.Running;

namespace Governor.Benchmarks.SqlGuard;

public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
