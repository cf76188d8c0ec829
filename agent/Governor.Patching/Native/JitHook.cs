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

    // Which threads are inside the hook, and in which phase bucket: a compilation on the thread
    // that patches (an assembly load raised while the JIT compiles one of the app's methods runs a
    // plugin's patching code on that thread) cannot finish before the patch does, and is not waited
    // for (measured: each patch from such a load waited the full 2 s timeout).
    private const int InFlightSlots = 64;
    private const int CorJitSkipped = unchecked((int)0x80000004);

    // ".NET Tiered Com": the runtime's tiering worker thread, as truncated by the kernel (15 chars).
    private const ulong TieringNameLow = 0x6569542054454E2EUL;   // ".NET Tie"
    private const ulong TieringNameHigh = 0x006D6F4320646572UL;  // "red Com\0"

    private static delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int> s_compileMethod;
    private static delegate* unmanaged<int, nint, nint, nint, nint, int> s_prctl;
    private static delegate* unmanaged<nint> s_pthreadSelf;
    private static nint* s_inFlightThreads;
    private static int* s_inFlightBuckets;
    private static nint* s_ringMethods;
    private static nint* s_ringCodes;

    // Compilations inside the hook, counted in two buckets by the phase they entered in (see
    // WaitForCompilationsInFlight). Native memory: the hook touches no GC object.
    private static int* s_inFlight;
    private static int s_phase;
    private static readonly object _graceLock = new();
    private static long s_compilations;
    private static bool s_loopTierUpIsOptimized;

    private static bool s_installed;

    /// <summary>Compilations seen since the hook was installed.</summary>
    public static long Compilations => Volatile.Read(ref s_compilations);

    /// <summary>Installs the hook once. Returns null on success, else why it could not.</summary>
    public static string? Install(string runtimeDirectory)
    {
        if (s_installed)
        {
            return null;
        }

        if (Libc.Unavailable is { } libcMissing)
        {
            return libcMissing;
        }

        string jitPath = Path.Combine(runtimeDirectory, "libclrjit.so");
        if (!NativeLibrary.TryLoad(jitPath, out nint jitLibrary))
        {
            return $"cannot load the JIT ({jitPath})";
        }

        if (!NativeLibrary.TryGetExport(jitLibrary, "getJit", out nint getJit))
        {
            return "the JIT lacks the expected export getJit";
        }

        nint jit = ((delegate* unmanaged<nint>)getJit)();
        if (jit == 0)
        {
            return "getJit() returned null";
        }

        nint* vtable = *(nint**)jit;
        s_loopTierUpIsOptimized = LoopTierUpIsOptimized();
        s_prctl = (delegate* unmanaged<int, nint, nint, nint, nint, int>)Libc.Prctl;
        s_pthreadSelf = (delegate* unmanaged<nint>)Libc.PthreadSelf;
        s_inFlightThreads = (nint*)NativeMemory.AllocZeroed(InFlightSlots, (nuint)sizeof(nint));
        s_inFlightBuckets = (int*)NativeMemory.AllocZeroed(InFlightSlots, sizeof(int));
        nint fakeCompiler = Libc.Abs;
        s_ringMethods = (nint*)NativeMemory.AllocZeroed(RingSize, (nuint)sizeof(nint));
        s_ringCodes = (nint*)NativeMemory.AllocZeroed(RingSize, (nuint)sizeof(nint));
        s_inFlight = (int*)NativeMemory.AllocZeroed(2, sizeof(int));
        TargetTable.Initialize();

        // Run the hook once through every path before installing it: whatever it calls gets
        // compiled now (in any build configuration) instead of recursively from inside the hook.
        WarmUp(fakeCompiler);
        s_compileMethod = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)vtable[0];

        if (!Libc.MakeWritable((nint)vtable, sizeof(nint)))
        {
            return $"mprotect on the JIT's vtable failed (errno {Libc.LastError})";
        }

        nint hook = (nint)(delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)&CompileMethod;
        Interlocked.Exchange(ref vtable[0], hook);
        s_installed = true;
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
    /// Waits (bounded) until every compilation that was inside the hook when this was called has
    /// left it, so that none that looked a target up before its registration is still running.
    /// Compilations that enter later are not waited for: each entry counts itself in the bucket of
    /// the current phase; this flips the phase and waits for the previous bucket to drain, twice
    /// (a compilation may have read the phase just before a flip and counted itself in the old
    /// bucket just after it; if that count was missed it was made after the flip, a locked
    /// operation after the registration, so its lookup sees the registration). Waiting for a
    /// global count of zero instead would rarely end while other threads JIT-compile at startup.
    /// Compilations in flight on the calling thread are not waited for either: they are suspended
    /// below the caller and can only finish after it returns.
    /// </summary>
    public static bool WaitForCompilationsInFlight(TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_graceLock)
        {
            for (int flip = 0; flip < 2; flip++)
            {
                int old = Interlocked.Increment(ref s_phase) - 1;
                int spins = 0;
                while (Interlocked.CompareExchange(ref s_inFlight[old & 1], 0, 0) - OwnInBucket(old & 1) > 0)
                {
                    if (Environment.TickCount64 > deadline)
                    {
                        return false;
                    }

                    if (++spins < 50)
                    {
                        Thread.Yield();
                    }
                    else
                    {
                        Thread.Sleep(1);
                    }
                }
            }
        }

        return true;
    }

    /// <summary>Compilations inside the hook on the calling thread that counted themselves in <paramref name="bucket"/>.</summary>
    private static int OwnInBucket(int bucket)
    {
        nint self = s_pthreadSelf();
        int count = 0;
        for (int i = 0; i < InFlightSlots; i++)
        {
            if (Volatile.Read(ref s_inFlightThreads[i]) == self && Volatile.Read(ref s_inFlightBuckets[i]) == bucket)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Records the calling thread as compiling in <paramref name="bucket"/>; -1 when every slot is taken (it then counts as another thread's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static int ClaimSlot(int bucket)
    {
        nint self = s_pthreadSelf();
        for (int i = 0; i < InFlightSlots; i++)
        {
            if (Volatile.Read(ref s_inFlightThreads[i]) == 0 && Interlocked.CompareExchange(ref s_inFlightThreads[i], self, 0) == 0)
            {
                Volatile.Write(ref s_inFlightBuckets[i], bucket);
                return i;
            }
        }

        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ReleaseSlot(int slot)
    {
        if (slot >= 0)
        {
            Volatile.Write(ref s_inFlightThreads[slot], 0);
        }
    }

    /// <summary>
    /// Runs the hook through each of its paths with a fake compiler and a fake method, so that the
    /// hook and everything it calls are compiled (and their call sites bound) before it is live.
    /// Only what the hook itself runs is warmed; engine code that runs outside it is compiled
    /// when first used. The hook's helpers are inlined into it, so this compiles one optimized
    /// method plus the table probe; straight-line code without stackalloc keeps this one cheap.
    /// </summary>
    /// <param name="fakeCompiler">
    /// libc's <c>abs</c>, standing in for the JIT: called with 0 as its first argument (and the
    /// rest ignored) it returns 0 ("compiled") without side effects or a system call. A native
    /// function avoids one more managed method to JIT just for this; a yielding one (tried:
    /// sched_yield) cost whole scheduler time slices on a loaded machine.
    /// </param>
    private static void WarmUp(nint fakeCompiler)
    {
        s_compileMethod = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)fakeCompiler;
        nint fakeMethod = (nint)NativeMemory.Alloc(1);
        var state = TargetTable.GetOrAdd(fakeMethod);
        state->SlotCount = 1;
        var methodInfo = (nint*)NativeMemory.AllocZeroed(16, (nuint)sizeof(nint));
        var entry = (byte**)NativeMemory.AllocZeroed(2, (nuint)sizeof(nint));
        var size = (uint*)(entry + 1);
        methodInfo[0] = fakeMethod;
        var hook = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)&CompileMethod;

        // First compilation (redirected), then a recompilation on this thread (the OSR path), then inactive.
        state->Active = 1;
        _ = hook(0, 0, (nint)methodInfo, 0, entry, size);
        state->HasLoops = 1;
        _ = hook(0, 0, (nint)methodInfo, 0, entry, size);
        state->Active = 0;
        state->HasLoops = 0;
        _ = hook(0, 0, (nint)methodInfo, 0, entry, size);

        // An unknown method (the common case: a table miss).
        methodInfo[0] = 0;
        _ = hook(0, 0, (nint)methodInfo, 0, entry, size);
        NativeMemory.Free(methodInfo);
        NativeMemory.Free(entry);
    }

    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CompileMethod(nint jit, nint jitInfo, nint methodInfo, uint flags, byte** nativeEntry, uint* nativeSize)
    {
        int bucket = Volatile.Read(ref s_phase) & 1;
        int* inFlight = s_inFlight + bucket;
        // Claimed before counting: a waiter that sees the count also sees whose it is.
        int slot = ClaimSlot(bucket);
        Interlocked.Increment(ref *inFlight);

        // CORINFO_METHOD_INFO starts with the method handle.
        nint method = *(nint*)methodInfo;
        var target = TargetTable.FindInline(method);
        if (target != null && DeclinesTierUp(target))
        {
            Interlocked.Increment(ref target->DeclinedTierUps);
            Interlocked.Decrement(ref *inFlight);
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

        Interlocked.Decrement(ref *inFlight);
        ReleaseSlot(slot);
        return result;
    }

    /// <summary>
    /// With OSR and dynamic PGO on, the tier-up of a method with loops is an instrumented tier0
    /// compilation with patchpoints: redirecting it would crash at its first OSR transition, and
    /// publishing it unredirected would lose calls. So it is declined while the target is patched:
    /// the runtime keeps the current (redirected) code and OSR still works from it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool DeclinesTierUp(TargetState* state) =>
        !s_loopTierUpIsOptimized && Volatile.Read(ref state->Active) != 0 && Volatile.Read(ref state->HasLoops) != 0
        && Volatile.Read(ref state->HasCode) != 0 && IsTieringWorker();

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
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
        int slots = state->SlotCount;
        if (slot >= slots)
        {
            // Out of slots: keep calling the newest recorded original (valid, only an older tier).
            *nativeEntry = (byte*)state->Entries[slots - 1];
            Interlocked.Increment(ref state->Substitutions);
            return;
        }

        // The code is not in place yet (W^X copies it after we return): entry `slot` publishes it
        // as the original (TargetState.Promote) when it first runs, which proves the copy is done.
        Volatile.Write(ref state->Codes[slot], (long)*nativeEntry);
        *nativeEntry = (byte*)state->Entries[slot];
        Interlocked.Increment(ref state->Substitutions);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool IsTieringWorker()
    {
        // A struct local rather than stackalloc: methods with stackalloc are not inlined.
        ThreadName name = default;
        if (s_prctl(Libc.PrGetName, (nint)(&name), 0, 0, 0) != 0)
        {
            return false;
        }

        return name.Low == TieringNameLow && name.High == TieringNameHigh;
    }

    /// <summary>The 16-byte buffer <c>prctl(PR_GET_NAME)</c> fills.</summary>
    private struct ThreadName
    {
        public ulong Low;
        public ulong High;
    }
}
