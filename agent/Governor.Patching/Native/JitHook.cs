using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

/// <summary>
/// Wraps the JIT's <c>ICorJitCompiler::compileMethod</c> (vtable slot 0 of the object returned by
/// <c>getJit()</c>). After each successful compilation of a patched target it replaces
/// <c>*nativeEntry</c> with a generated entry method, so the runtime publishes that entry as the
/// target's code while the real code stays callable as the original. The hook and everything it
/// calls are compiled before it is installed; it allocates nothing and takes no lock.
/// </summary>
internal static unsafe class JitHook
{
    private const int RingSize = 1024;

    // Which threads are inside the hook: a compilation on the thread that patches (an assembly
    // load raised while the JIT compiles one of the app's methods runs a plugin's patching code on
    // that thread) cannot finish before the patch does, and is not waited for.
    private const int InFlightSlots = 64;
    private const int CorJitSkipped = unchecked((int)0x80000004);

    // ".NET Tiered Com": the runtime's tiering worker thread, as truncated by the kernel (15 chars).
    private const ulong TieringNameLow = 0x6569542054454E2EUL;   // ".NET Tie"
    private const ulong TieringNameHigh = 0x006D6F4320646572UL;  // "red Com\0"

    private static delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int> s_compileMethod;
    private static delegate* unmanaged<int, nint, nint, nint, nint, int> s_prctl;
    private static delegate* unmanaged<nint> s_pthreadSelf;
    private static nint* s_inFlightThreads;
    private static nint* s_ringMethods;
    private static nint* s_ringCodes;
    private static int s_inFlight;
    private static long s_compilations;
    private static bool s_loopTierUpIsOptimized;

    public static bool IsInstalled { get; private set; }

    /// <summary>Compilations seen since the hook was installed.</summary>
    public static long Compilations => Volatile.Read(ref s_compilations);

    /// <summary>Number of compilations currently inside the hook.</summary>
    public static int InFlight => Volatile.Read(ref s_inFlight);

    /// <summary>Installs the hook once. Returns null on success, else why it could not.</summary>
    public static string? Install(string runtimeDirectory)
    {
        if (IsInstalled)
        {
            return null;
        }

        string jitPath = Path.Combine(runtimeDirectory, "libclrjit.so");
        if (!NativeLibrary.TryLoad(jitPath, out nint jitLibrary))
        {
            return $"cannot load the JIT ({jitPath})";
        }

        if (!NativeLibrary.TryGetExport(jitLibrary, "getJit", out nint getJit)
            || !NativeLibrary.TryLoad("libc.so.6", out nint libc)
            || !NativeLibrary.TryGetExport(libc, "prctl", out nint prctl)
            || !NativeLibrary.TryGetExport(libc, "pthread_self", out nint pthreadSelf))
        {
            return "the JIT or libc lacks an expected export (getJit, prctl, pthread_self)";
        }

        nint jit = ((delegate* unmanaged<nint>)getJit)();
        if (jit == 0)
        {
            return "getJit() returned null";
        }

        nint* vtable = *(nint**)jit;
        s_loopTierUpIsOptimized = LoopTierUpIsOptimized();
        s_prctl = (delegate* unmanaged<int, nint, nint, nint, nint, int>)prctl;
        s_pthreadSelf = (delegate* unmanaged<nint>)pthreadSelf;
        s_inFlightThreads = (nint*)NativeMemory.AllocZeroed(InFlightSlots, (nuint)sizeof(nint));
        s_ringMethods = (nint*)NativeMemory.AllocZeroed(RingSize, (nuint)sizeof(nint));
        s_ringCodes = (nint*)NativeMemory.AllocZeroed(RingSize, (nuint)sizeof(nint));
        TargetTable.Initialize();

        // Run the hook once through every path before installing it: whatever it calls gets
        // compiled now (in any build configuration) instead of recursively from inside the hook.
        WarmUp();
        s_compileMethod = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)vtable[0];

        if (!Libc.MakeWritable((nint)vtable, sizeof(nint)))
        {
            return $"mprotect on the JIT's vtable failed (errno {Marshal.GetLastPInvokeError()})";
        }

        nint hook = (nint)(delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)&CompileMethod;
        Interlocked.Exchange(ref vtable[0], hook);
        IsInstalled = true;
        return null;
    }

    /// <summary>True when the process settings rule out tier0 code with patchpoints after the first compilation.</summary>
    private static bool LoopTierUpIsOptimized()
    {
        static bool Off(string name) =>
            (Environment.GetEnvironmentVariable("DOTNET_" + name) ?? Environment.GetEnvironmentVariable("COMPlus_" + name)) is "0";

        return Off("TieredPGO") || Off("TC_OnStackReplacement") || Off("TC_QuickJitForLoops") || Off("TieredCompilation")
            || AppContext.GetData("System.Runtime.TieredPGO") is false or "false" || AppContext.GetData("System.Runtime.TieredCompilation.QuickJitForLoops") is false or "false";
    }

    /// <summary>The code of the newest of the last 1024 compilations of <paramref name="method"/>, if any.</summary>
    public static bool LatestCompilation(nint method, out nint code)
    {
        long position = Volatile.Read(ref s_compilations);
        int bestAge = int.MaxValue;
        code = 0;
        for (int i = 0; i < RingSize; i++)
        {
            if (Volatile.Read(ref s_ringMethods[i]) == method)
            {
                int age = (int)((position - i) & (RingSize - 1));
                if (age < bestAge)
                {
                    bestAge = age;
                    code = Volatile.Read(ref s_ringCodes[i]);
                }
            }
        }

        return bestAge != int.MaxValue;
    }

    /// <summary>
    /// Waits (bounded) until no compilation that may have missed a new registration is inside the
    /// hook. Compilations in flight on the calling thread are not waited for: they are suspended
    /// below the caller and can only finish after it returns.
    /// </summary>
    public static bool WaitForInFlight(TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Volatile.Read(ref s_inFlight) - InFlightOnThisThread() > 0)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            Thread.Sleep(1);
        }

        return true;
    }

    /// <summary>Compilations inside the hook on the calling thread (nested when compiling loads code that compiles).</summary>
    private static int InFlightOnThisThread()
    {
        if (s_inFlightThreads == null)
        {
            return 0;
        }

        nint self = s_pthreadSelf();
        int count = 0;
        for (int i = 0; i < InFlightSlots; i++)
        {
            if (Volatile.Read(ref s_inFlightThreads[i]) == self)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Records the calling thread as compiling; -1 when every slot is taken (then it counts as another thread's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ClaimSlot()
    {
        nint self = s_pthreadSelf();
        for (int i = 0; i < InFlightSlots; i++)
        {
            if (Volatile.Read(ref s_inFlightThreads[i]) == 0 && Interlocked.CompareExchange(ref s_inFlightThreads[i], self, 0) == 0)
            {
                return i;
            }
        }

        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ReleaseSlot(int slot)
    {
        if (slot >= 0)
        {
            Volatile.Write(ref s_inFlightThreads[slot], 0);
        }
    }

    private static void WarmUp()
    {
        s_compileMethod = &CompileNothing;
        nint fakeMethod = (nint)NativeMemory.Alloc(1);
        var state = TargetTable.GetOrAdd(fakeMethod);
        state->Active = 1;
        nint* methodInfo = stackalloc nint[16];
        methodInfo[0] = fakeMethod;
        byte* entry = null;
        uint size = 0;
        var hook = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)&CompileMethod;
        for (int pass = 0; pass < 3; pass++)
        {
            // First compilation (redirected), then a recompilation on this thread (OSR path), then inactive.
            state->Active = pass < 2 ? 1 : 0;
            state->HasLoops = pass == 1 ? 1 : 0;
            _ = hook(0, 0, (nint)methodInfo, 0, &entry, &size);
        }

        _ = TargetTable.Find(0);
        _ = LatestCompilation(fakeMethod, out _);
    }

    [UnmanagedCallersOnly]
    private static int CompileNothing(nint jit, nint jitInfo, nint methodInfo, uint flags, byte** nativeEntry, uint* nativeSize) => 0;

    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CompileMethod(nint jit, nint jitInfo, nint methodInfo, uint flags, byte** nativeEntry, uint* nativeSize)
    {
        int slot = ClaimSlot();
        Interlocked.Increment(ref s_inFlight);

        // CORINFO_METHOD_INFO starts with the method handle.
        nint method = *(nint*)methodInfo;
        var target = TargetTable.Find(method);
        if (target != null && DeclinesTierUp(target))
        {
            Interlocked.Increment(ref target->DeclinedTierUps);
            Interlocked.Decrement(ref s_inFlight);
            ReleaseSlot(slot);
            return CorJitSkipped;
        }

        int result = s_compileMethod(jit, jitInfo, methodInfo, flags, nativeEntry, nativeSize);
        if (result == 0)
        {
            long position = Interlocked.Increment(ref s_compilations);
            int index = (int)(position & (RingSize - 1));
            Volatile.Write(ref s_ringCodes[index], (nint)(*nativeEntry));
            Volatile.Write(ref s_ringMethods[index], method);
            if (target != null)
            {
                OnCompiled(target, nativeEntry);
            }
        }

        Interlocked.Decrement(ref s_inFlight);
        ReleaseSlot(slot);
        return result;
    }

    /// <summary>
    /// With OSR and dynamic PGO on, the tier-up of a method with loops is an instrumented tier0
    /// compilation with patchpoints: redirecting it would crash at its first OSR transition, and
    /// publishing it unredirected would lose calls. So it is declined while the target is patched:
    /// the runtime keeps the current (redirected) code and OSR still works from it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool DeclinesTierUp(TargetState* state) =>
        !s_loopTierUpIsOptimized && Volatile.Read(ref state->Active) != 0 && Volatile.Read(ref state->HasLoops) != 0
        && Volatile.Read(ref state->HasCode) != 0 && IsTieringWorker();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OnCompiled(TargetState* state, byte** nativeEntry)
    {
        bool hadCode = Interlocked.Exchange(ref state->HasCode, 1) != 0;
        if (Volatile.Read(ref state->Active) == 0)
        {
            return;
        }

        if (hadCode ? !IsTieringWorker() : Volatile.Read(ref state->HasLoops) != 0)
        {
            // A target that already has code is compiled again by the tiering worker (tier-up) or,
            // on the thread running it, as an on-stack-replacement variant entered mid-method:
            // never redirected. A first compilation of a method with loops is tier0 code with
            // patchpoints: OSR maps that code back to its code version, which must be the real
            // code, so it is left alone here and hot-patched once published.
            Interlocked.Increment(ref state->OsrSkips);
            return;
        }

        int slot = Interlocked.Increment(ref state->LastSlot);
        if (slot >= TargetState.MaxSlots)
        {
            // Out of slots: keep calling the newest recorded original (valid, only an older tier).
            *nativeEntry = (byte*)state->Entries[TargetState.MaxSlots - 1];
            Interlocked.Increment(ref state->Substitutions);
            return;
        }

        // The code is not in place yet (W^X copies it after we return): entry `slot` publishes it
        // as the original (TargetState.Promote) when it first runs, which proves the copy is done.
        Volatile.Write(ref state->Codes[slot], (long)*nativeEntry);
        *nativeEntry = (byte*)state->Entries[slot];
        Interlocked.Increment(ref state->Substitutions);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool IsTieringWorker()
    {
        ulong* name = stackalloc ulong[2];
        name[0] = 0;
        name[1] = 0;
        if (s_prctl(Libc.PrGetName, (nint)name, 0, 0, 0) != 0)
        {
            return false;
        }

        return name[0] == TieringNameLow && name[1] == TieringNameHigh;
    }
}
