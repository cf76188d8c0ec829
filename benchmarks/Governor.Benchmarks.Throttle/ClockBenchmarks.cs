using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace Governor.Benchmarks.Throttle;

/// <summary>
/// Why rate windows read <c>Environment.TickCount64</c> and not the precise clock: on a virtual
/// machine the precise clock alone can cost as much as a whole token-bucket acquisition.
/// </summary>
public class ClockBenchmarks
{
    [Benchmark(Baseline = true, Description = "Stopwatch.GetTimestamp")]
    public long Precise() => Stopwatch.GetTimestamp();

    [Benchmark(Description = "Environment.TickCount64")]
    public long Coarse() => Environment.TickCount64;
}
