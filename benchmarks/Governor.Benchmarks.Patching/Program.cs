using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Governor.Benchmarks.Patching -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Governor.Benchmarks.Patching.CallBenchmarks).Assembly).Run(args);
