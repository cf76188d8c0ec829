using System.Diagnostics;

namespace Governor.Benchmarks;

/// <summary>
/// A cross-check for a shared, loaded machine: BenchmarkDotNet measures wall time, which other
/// processes inflate whenever they take the core away; this loop also measures the CPU time the
/// process spent, which they do not. Linked into the benchmark projects that offer <c>--cpu-check</c>.
/// </summary>
internal static class CpuTime
{
    /// <summary>Runs <paramref name="operation"/> <paramref name="calls"/> times in three rounds and prints the best CPU and wall time per call as a table row.</summary>
    public static void Measure(string name, Func<bool> operation, int calls)
    {
        var cpu = new List<double>();
        var wall = new List<double>();
        for (int round = 0; round < 3; round++)
        {
            int passed = 0;
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++)
            {
                if (operation())
                {
                    passed++;
                }
            }

            wall.Add(clock.Elapsed.TotalNanoseconds / calls);
            cpu.Add((Environment.CpuUsage.TotalTime - cpuBefore).TotalNanoseconds / calls);
            if (passed != calls)
            {
                throw new InvalidOperationException($"{name}: {calls - passed} calls took another path than the one measured.");
            }
        }

        // The delegate call adds about 1-2 ns to every figure.
        Console.WriteLine($"| {name} | {cpu.Min():F1} ns | {wall.Min():F1} ns |");
    }
}
