using Governor.Benchmarks.Process;

// governor-bench startup [--runs N] [--app tests/apps/WebApp] [--framework net10.0] [--home DIR]
// governor-bench compare [--rate N] [--seconds N] [--warmup N] [--rounds N] [--home DIR] [--no-proxy] [--out FILE]
return args.Length > 0 && args[0] == "startup" ? StartupBenchmark.Run(args[1..])
    : args.Length > 0 && args[0] == "compare" ? CompareBenchmark.Run(args[1..])
    : Usage();

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run --project benchmarks/Governor.Benchmarks.Process -c Release -- startup [--runs N] [--app DIR] [--framework TFM] [--home DIR]");
    Console.Error.WriteLine("       " + CompareOptions.Usage["usage: ".Length..]);
    return 2;
}
