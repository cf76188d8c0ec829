using System.Reflection;
using System.Runtime.CompilerServices;

namespace Governor.Patching;

/// <summary>
/// Patches two canaries before any real target is touched: one never called yet (redirected at
/// its first compilation by the JIT hook) and one already running (hot-patched), verifies prefix
/// skip, result replacement and the finalizer, unpatches, and verifies the originals again.
/// </summary>
internal static class SelfTest
{
    private const BindingFlags Static = BindingFlags.Static | BindingFlags.NonPublic;

    public static string? Run(IPatchEngine engine)
    {
        for (int i = 0; i < 3; i++)
        {
            _ = Running(i);
        }

        var fresh = engine.Patch(Method(nameof(Fresh)), prefix: Method(nameof(Prefix)), postfix: Method(nameof(Postfix)), owner: "self-test");
        var running = engine.Patch(Method(nameof(Running)), postfix: Method(nameof(Postfix)), finalizer: Method(nameof(Finalizer)), owner: "self-test");
        try
        {
            var failure = Expect("fresh canary, patched", Fresh(2), 7 + 1000) ?? Expect("fresh canary, prefix skip", Fresh(-1), 42 + 1000)
                ?? Expect("running canary, patched", Running(2), 12 + 1000) ?? Expect("running canary, exception swallowed", Running(-1), 0);
            if (failure is not null)
            {
                return failure;
            }
        }
        finally
        {
            fresh.Dispose();
            running.Dispose();
        }

        return Expect("fresh canary, unpatched", Fresh(2), 7) ?? Expect("running canary, unpatched", Running(2), 12);
    }

    private static string? Expect(string what, int actual, int expected) => actual == expected ? null : $"{what}: got {actual}, expected {expected}";

    private static MethodInfo Method(string name) => typeof(SelfTest).GetMethod(name, Static)!;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Fresh(int x) => (x * 3) + 1;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Running(int x) => x >= 0 ? (x * 5) + 2 : throw new InvalidOperationException("canary");

    private static bool Prefix(int x, ref int __result)
    {
        if (x < 0)
        {
            __result = 42;
            return false;
        }

        return true;
    }

    private static void Postfix(ref int __result) => __result += 1000;

    private static void Finalizer(ref Exception? __exception) => __exception = null;
}
