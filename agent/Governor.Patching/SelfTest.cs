using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>
/// Proves the redirection mechanism before any real target is touched, with two canaries: one
/// never called yet (redirected at its first compilation by the JIT hook) and one already running
/// (hot-patched). Both go through <see cref="CodeRedirection"/>, the code every real patch uses,
/// but with entry methods and dispatchers written here in C# instead of generated ones: the
/// dispatchers behave like a prefix that skips the original, a postfix that replaces the result
/// and a finalizer that swallows the exception. So the self-test needs no Reflection.Emit, no
/// dynamic assembly and no load context (about 600 JIT-compiled methods and 40 ms at startup);
/// generated code is checked where it is produced (a failure there is a PatchException for that
/// one patch, with nothing changed). Each canary is verified patched, unpatched and verified again.
/// </summary>
internal static unsafe class SelfTest
{
    private const BindingFlags Static = BindingFlags.Static | BindingFlags.NonPublic;

    private static TargetState* s_fresh;
    private static TargetState* s_running;

    /// <summary>Returns null when the mechanism works, else what failed.</summary>
    public static string? Run()
    {
        // Messages about the canaries would only be noise (and formatting them costs startup time).
        Action<PatchLogLevel, string> log = static (_, _) => { };
        for (int i = 0; i < 3; i++)
        {
            _ = Running(i);
        }

        var fresh = new CodeRedirection(Method(nameof(Fresh)).MethodHandle, null, "self-test canary (never called)", hasLoops: false, log);
        s_fresh = fresh.State;
        _ = fresh.SetEntries(new[] { Code(nameof(FreshEntry)) }, new[] { Method(nameof(FreshEntry)).MethodHandle.Value });
        var running = new CodeRedirection(Method(nameof(Running)).MethodHandle, null, "self-test canary (running)", hasLoops: false, log);
        s_running = running.State;
        _ = running.SetEntries(new[] { Code(nameof(RunningEntry)) }, new[] { Method(nameof(RunningEntry)).MethodHandle.Value });
        nint freshDispatcher = Code(nameof(FreshDispatcher));
        nint runningDispatcher = Code(nameof(RunningDispatcher));

        fresh.Apply(freshDispatcher);
        running.Apply(runningDispatcher);
        try
        {
            var failure = Expect("fresh canary, patched", Fresh(2), 7 + 1000) ?? Expect("fresh canary, prefix skip", Fresh(-1), 42 + 1000)
                ?? Expect("running canary, patched", Running(2), 12 + 1000) ?? Expect("running canary, exception swallowed", Running(-1), 0)
                ?? (fresh.State->Substitutions >= 1 ? null : "fresh canary: its compilation did not go through the JIT hook");
            if (failure is not null)
            {
                return failure;
            }
        }
        finally
        {
            fresh.Deactivate();
            running.Deactivate();
        }

        return Expect("fresh canary, unpatched", Fresh(2), 7) ?? Expect("running canary, unpatched", Running(2), 12);
    }

    private static string? Expect(string what, int actual, int expected) => actual == expected ? null : $"{what}: got {actual}, expected {expected}";

    private static MethodInfo Method(string name) => typeof(SelfTest).GetMethod(name, Static)!;

    private static nint Code(string name) => CodeRedirection.CompiledCode(Method(name));

    // The canaries. Fresh must not be called before the self-test patches it. Both are
    // AggressiveOptimization so that they are always JIT-compiled, even when this assembly has a
    // ReadyToRun image (crossgen2 leaves such methods to the JIT): the fresh canary's compilation
    // must go through the JIT hook.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Fresh(int x) => (x * 3) + 1;

    /// <summary>
    /// Optimized code without a frame has no prolog instruction the hot patcher can replace, so
    /// this canary keeps a 256-byte frame: its prolog reserves it with a 7-byte <c>sub rsp, imm32</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Running(int x)
    {
        var frame = default(CanaryFrame);
        frame.Value = x;
        return RunningBody(ref frame);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RunningBody(ref CanaryFrame frame) => frame.Value >= 0 ? (frame.Value * 5) + 2 : throw new InvalidOperationException("canary");

    // Entry methods as EntryEmitter generates them (without the tail call). One slot each: the
    // canaries are compiled or hot-patched once during the test; a further compilation would be
    // sent to the last slot's entry (see JitHook.OnCompiled) and still call a valid original.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static int FreshEntry(int x) => Enter(s_fresh, 0, x);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static int RunningEntry(int x) => Enter(s_running, 0, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Enter(TargetState* state, int slot, int x)
    {
        if (Volatile.Read(ref state->Current) < slot)
        {
            TargetState.Promote(state, slot);
        }

        nint function = Volatile.Read(ref state->Dispatcher);
        return function != 0 ? ((delegate*<int, int>)function)(x) : Original(state, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Original(TargetState* state, int x) => ((delegate*<int, int>)state->Codes[Volatile.Read(ref state->Current)])(x);

    // Dispatchers, as DispatcherEmitter would generate them for the patches named in the comments.
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static int FreshDispatcher(int x)
    {
        // Prefix: for a negative argument skip the original and supply 42. Postfix: add 1000.
        int result = x < 0 ? 42 : Original(s_fresh, x);
        return result + 1000;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static int RunningDispatcher(int x)
    {
        // Postfix: add 1000. Finalizer: swallow the exception (the result stays default).
        try
        {
            return Original(s_running, x) + 1000;
        }
        catch (InvalidOperationException)
        {
            return 0;
        }
    }

    [StructLayout(LayoutKind.Sequential, Size = 256)]
    private struct CanaryFrame
    {
        public int Value;
    }
}
