using BenchmarkDotNet.Running;
using Governor.Benchmarks.Interception;

// --cpu-check: CPU time per request of the route stage variants (see RouteStageBenchmarks.CpuCheck).
if (args.Length == 1 && args[0] == "--cpu-check")
{
    RouteStageBenchmarks.CpuCheck();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
