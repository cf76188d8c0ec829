using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Governor.Patching.Native;

namespace Governor.Patching.TestApp;

/// <summary>
/// "Never harm the host" scenarios: what an app does without the engine must keep working with
/// the engine's JIT hook installed and its patches applied.
/// </summary>
internal static class HostSafety
{
    private const int Calls = 100_000;

    /// <summary>
    /// The runtime throws inside a JIT compilation (an assembly that is missing at run time, a
    /// type that cannot load) while the hook is installed: the app's caller gets the managed
    /// exception, as without the engine, instead of the process aborting; a patched target that
    /// fails to compile the same way is refused; the hook's bookkeeping stays balanced.
    /// </summary>
    public static unsafe bool JitFailure(IPatchEngine engine, Report report)
    {
        report.Check("missing-assembly", Caught(MissingAssembly.Use) == nameof(FileNotFoundException), $"caught={Caught(MissingAssembly.Use)}");
        report.Check("type-load", Caught(BadLayout.Use) == nameof(TypeLoadException), $"caught={Caught(BadLayout.Use)}");

        // A target whose compilation fails: the patch is refused (or applied and the call still
        // fails the app's way), never a crash.
        string? refused = null;
        IDisposable? handle = null;
        try
        {
            handle = engine.Patch(typeof(MissingAssembly).GetMethod(nameof(MissingAssembly.Target))!, prefix: typeof(Patches).GetMethod(nameof(Patches.Count))!, owner: "test");
        }
        catch (PatchException e)
        {
            refused = e.Message;
        }

        string? targetCall = Caught(() => MissingAssembly.Target());
        handle?.Dispose();
        var state = TargetTable.Find(typeof(MissingAssembly).GetMethod(nameof(MissingAssembly.Target))!.MethodHandle.Value);
        bool switchedOff = state == null || (state->Active == 0 && state->Dispatcher == 0);
        report.Check("failing-target", targetCall == nameof(FileNotFoundException) && (handle is not null || switchedOff), $"caught={targetCall} refused={refused} switched-off={switchedOff}");

        // Every compilation that threw left the hook's in-flight count: patching still works at once.
        bool drained = JitHook.WaitForCompilationsInFlight(TimeSpan.FromSeconds(5));
        var target = typeof(Work).GetMethod(nameof(Work.Mix))!;
        long before = Patches.Counter;
        using (engine.Patch(target, prefix: typeof(Patches).GetMethod(nameof(Patches.Count))!, owner: "test"))
        {
            for (int i = 0; i < Calls; i++)
            {
                _ = Work.Mix(i, 1);
            }
        }

        report.Check("hook-balanced", drained && Patches.Counter - before == Calls, $"drained={drained} intercepted={Patches.Counter - before}/{Calls} hook={JitHook.Kind}");
        return report.Done();
    }

    /// <summary>
    /// A virtual method is patched and has run (its redirected code is published); then derived
    /// types load: one inherits the method, one overrides it and calls the base, one overrides it
    /// without calling the base. Every call of the base method's code is intercepted, none of the
    /// override's own, and the process survives.
    /// </summary>
    public static bool DerivedTypeLoadedLater(IPatchEngine engine, Report report)
    {
        var target = typeof(Animal).GetMethod(nameof(Animal.Legs))!;
        using var patch = engine.Patch(target, prefix: typeof(Patches).GetMethod(nameof(Patches.Count))!, owner: "test");
        Animal animal = new Animal();
        bool correct = true;
        long expected = 0;
        for (int i = 0; i < Calls; i++)
        {
            correct &= animal.Legs(i) == i + 4;
            expected++;
        }

        // Give the tiering worker time to install tier-1 code before the derived types load.
        Thread.Sleep(300);
        correct &= LateTypes.Run(Calls, ref expected);
        report.Check("interception", correct && Patches.Counter == expected, $"calls={expected} intercepted={Patches.Counter} correct={correct} {Report.Tiering(target)}");
        return report.Done();
    }

    private static string? Caught(Func<object?> call)
    {
        try
        {
            _ = call();
            return null;
        }
        catch (Exception e)
        {
            return e.GetType().Name;
        }
    }
}

/// <summary>Calls code of an assembly the app was compiled against but that is not deployed (Dapper, runtime assets excluded).</summary>
internal static class MissingAssembly
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static object? Use() => Dapper.SqlMapper.GetCachedSQLCount();

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Target() => Dapper.SqlMapper.GetCachedSQLCount() + 1;
}

/// <summary>A method whose compilation needs a type the runtime refuses to load (an object reference overlapping an integer).</summary>
internal static class BadLayout
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static object? Use()
    {
        Overlap value = default;
        value.Number = 1;
        return value.Number;
    }

    [StructLayout(LayoutKind.Explicit)]
    private struct Overlap
    {
        [FieldOffset(0)]
        public object? Reference;

        [FieldOffset(0)]
        public long Number;
    }
}

internal class Animal
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public virtual int Legs(int n) => n + 4;
}

/// <summary>Derived types first touched after the base method was patched and tiered up.</summary>
internal static class LateTypes
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool Run(int calls, ref long baseCalls)
    {
        bool correct = true;
        Animal dog = new Dog();
        Animal cat = new Cat();
        Animal bird = new Bird();
        for (int i = 0; i < calls; i++)
        {
            correct &= dog.Legs(i) == i + 4 && cat.Legs(i) == i + 5 && bird.Legs(i) == 2;
            baseCalls += 2;
        }

        return correct;
    }

    private sealed class Dog : Animal
    {
    }

    private sealed class Cat : Animal
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public override int Legs(int n) => base.Legs(n) + 1;
    }

    private sealed class Bird : Animal
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public override int Legs(int n) => 2;
    }
}
