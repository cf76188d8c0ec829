using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Governor.Patching;

namespace Governor.Benchmarks.Patching;

/// <summary>
/// Startup cost of the JIT hook: compiling 2,000 fresh methods (as a starting app does) in a
/// process with and without the hook installed. Each benchmark case runs in its own process.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 10)]
public class JitHookBenchmarks
{
    private const int Methods = 2000;
    private static int s_generation;
    private MethodInfo[] _methods = Array.Empty<MethodInfo>();

    [Params(false, true)]
    public bool HookInstalled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (HookInstalled && PatchEngineBootstrap.TryInitialize(new PatchEngineOptions(), (_, _) => { }, out var reason) is null)
        {
            throw new InvalidOperationException(reason);
        }
    }

    [IterationSetup]
    public void Generate()
    {
        var assembly = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName($"JitLoad{Interlocked.Increment(ref s_generation)}"), AssemblyBuilderAccess.Run);
        var type = assembly.DefineDynamicModule("m").DefineType("T", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed);
        for (int i = 0; i < Methods; i++)
        {
            var method = type.DefineMethod($"M{i}", MethodAttributes.Public | MethodAttributes.Static, typeof(int), new[] { typeof(int), typeof(int) });
            var il = method.GetILGenerator();
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Ldc_I4, i);
            il.Emit(OpCodes.Mul);
            il.Emit(OpCodes.Ret);
        }

        _methods = type.CreateType()!.GetMethods(BindingFlags.Public | BindingFlags.Static);
    }

    [Benchmark(OperationsPerInvoke = Methods)]
    public void CompileMethod()
    {
        foreach (var method in _methods)
        {
            RuntimeHelpers.PrepareMethod(method.MethodHandle);
        }
    }
}
