using System.Reflection;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Governor.Patching;

namespace Governor.Benchmarks.Patching;

/// <summary>A call to a patched method with an empty prefix and postfix against the same call unpatched.</summary>
[ShortRunJob]
public class CallBenchmarks
{
    private IDisposable? _patch;

    [GlobalSetup]
    public void Setup()
    {
        var engine = PatchEngineBootstrap.TryInitialize(new PatchEngineOptions(), (_, _) => { }, out var reason)
            ?? throw new InvalidOperationException(reason);
        var patches = typeof(CallBenchmarks);
        _patch = engine.Patch(
            typeof(CallBenchmarks).GetMethod(nameof(PatchedTarget), BindingFlags.NonPublic | BindingFlags.Static)!,
            prefix: patches.GetMethod(nameof(EmptyPrefix), BindingFlags.NonPublic | BindingFlags.Static),
            postfix: patches.GetMethod(nameof(EmptyPostfix), BindingFlags.NonPublic | BindingFlags.Static));
    }

    [GlobalCleanup]
    public void Cleanup() => _patch?.Dispose();

    [Benchmark(Baseline = true)]
    public int Unpatched() => PlainTarget(42);

    [Benchmark]
    public int PatchedEmptyPrefixAndPostfix() => PatchedTarget(42);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int PlainTarget(int x) => (x * 3) + 1;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int PatchedTarget(int x) => (x * 3) + 1;

    private static void EmptyPrefix()
    {
    }

    private static void EmptyPostfix()
    {
    }
}
