using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

/// <summary>
/// Wraps the JIT's <c>ICorJitCompiler::compileMethod</c> (vtable slot 0 of the object returned by
/// <c>getJit()</c>). After each successful compilation of a patched target it replaces
/// <c>*nativeEntry</c> with a generated entry method, so the runtime publishes that entry as the
/// target's code while the real code stays callable as the original. The hook allocates nothing,
/// takes no lock and calls no managed code.
/// <para>
/// The hook is native code when it can be: <c>libgovernor_jithook.so</c> (Native/governor_jithook.c,
/// built by the project with gcc) next to this assembly. The runtime reports failures inside a
/// compilation (a missing assembly, a type that cannot load) as C++ exceptions that unwind through
/// the hook's frame; a managed <c>[UnmanagedCallersOnly]</c> frame cannot be unwound and the
/// process aborted. Without the library (no gcc at build time, another architecture) the managed
/// hook below is installed instead, with a warning: it behaves the same except for that abort.
/// Both read and write one <see cref="HookConfig"/> in native memory, so the engine's side
/// (<see cref="WaitForCompilationsInFlight"/>, <see cref="LatestCompilation"/>) is the same.
/// </para>
/// </summary>
internal static unsafe class JitHook
{
    /// <summary>The native hook's file name, next to Governor.Patching.dll (or one folder up from a ReadyToRun folder).</summary>
    public const string NativeLibraryName = "libgovernor_jithook.so";

    // GOVERNOR_JITHOOK_VERSION in governor_jithook.c; bumped with every change of HookConfig.
    private const int NativeVersion = 1;
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
    private static HookConfig* s_config;
    private static readonly object _graceLock = new();
    private static bool s_installed;

    /// <summary>Which hook is installed: "native", "managed" or "none".</summary>
    public static string Kind { get; private set; } = "none";

    /// <summary>Compilations seen since the hook was installed.</summary>
    public static long Compilations => s_config == null ? 0 : Volatile.Read(ref s_config->Compilations);

    /// <summary>Installs the hook once. Returns null on success, else why it could not.</summary>
    /// <param name="runtimeDirectory">Where libclrjit.so is.</param>
    /// <param name="log">Receives which hook was installed, and why not the native one.</param>
    public static string? Install(string runtimeDirectory, Action<PatchLogLevel, string> log)
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
        s_prctl = (delegate* unmanaged<int, nint, nint, nint, nint, int>)Libc.Prctl;
        s_pthreadSelf = (delegate* unmanaged<nint>)Libc.PthreadSelf;
        TargetTable.Initialize();
        s_config = CreateConfig();

        // Run the hook once through every path with a stand-in compiler before installing it, and
        // check what it did: for the native hook this proves the library and this engine agree on
        // the shared memory; for the managed one it also compiles the hook and what it calls now
        // (in any build configuration) instead of recursively from inside the hook.
        nint hook = 0;
        string? nativeProblem = LoadNative(out nint nativeHook) ?? Verify(nativeHook);
        if (nativeProblem is null)
        {
            hook = nativeHook;
            Kind = "native";
        }
        else
        {
            log(PatchLogLevel.Warning, $"the native JIT hook is unavailable ({nativeProblem}); using the managed hook, with which an exception the runtime throws inside a JIT compilation (an assembly missing at run time, a type that cannot load) aborts the process instead of reaching the app. See docs/troubleshooting.md (patch engine)");
            nint managedHook = (nint)(delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)&CompileMethod;
            if (Verify(managedHook) is { } managedProblem)
            {
                return $"the JIT hook failed its check: {managedProblem}";
            }

            hook = managedHook;
            Kind = "managed";
        }

        s_compileMethod = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)vtable[0];
        s_config->RealCompileMethod = vtable[0];
        if (!Libc.MakeWritable((nint)vtable, sizeof(nint)))
        {
            return $"mprotect on the JIT's vtable failed (errno {Libc.LastError})";
        }

        Interlocked.Exchange(ref vtable[0], hook);
        s_installed = true;
        log(PatchLogLevel.Information, $"JIT hook installed ({Kind})");
        return null;
    }

    private static HookConfig* CreateConfig()
    {
        var config = (HookConfig*)NativeMemory.AllocZeroed((nuint)sizeof(HookConfig));
        config->TableKeys = TargetTable.Keys;
        config->TableValues = TargetTable.Values;
        config->TableMask = TargetTable.Capacity - 1;
        config->TableHashShift = TargetTable.HashShift;
        TargetState layout = default;
        var start = (byte*)&layout;
        config->OffsetActive = (int)((byte*)&layout.Active - start);
        config->OffsetHasCode = (int)((byte*)&layout.HasCode - start);
        config->OffsetHasLoops = (int)((byte*)&layout.HasLoops - start);
        config->OffsetSlotCount = (int)((byte*)&layout.SlotCount - start);
        config->OffsetLastSlot = (int)((byte*)&layout.LastSlot - start);
        config->OffsetSubstitutions = (int)((byte*)&layout.Substitutions - start);
        config->OffsetOsrSkips = (int)((byte*)&layout.OsrSkips - start);
        config->OffsetDeclinedTierUps = (int)((byte*)&layout.DeclinedTierUps - start);
        config->OffsetEntries = (int)((byte*)layout.Entries - start);
        config->OffsetCodes = (int)((byte*)layout.Codes - start);
        config->LoopTierUpIsOptimized = LoopTierUpIsOptimized() ? 1 : 0;
        config->RingMask = RingSize - 1;
        config->RingMethods = (nint*)NativeMemory.AllocZeroed(RingSize, (nuint)sizeof(nint));
        config->RingCodes = (nint*)NativeMemory.AllocZeroed(RingSize, (nuint)sizeof(nint));
        config->InFlightSlots = InFlightSlots;
        config->InFlightThreads = (nint*)NativeMemory.AllocZeroed(InFlightSlots, (nuint)sizeof(nint));
        config->InFlightBuckets = (int*)NativeMemory.AllocZeroed(InFlightSlots, sizeof(int));
        return config;
    }

    /// <summary>Loads and configures the native hook; null on success, else why not.</summary>
    private static string? LoadNative(out nint hook)
    {
        hook = 0;
        string? path = NativeLibraryPath();
        if (path is null)
        {
            return $"{NativeLibraryName} is not next to {typeof(JitHook).Assembly.GetName().Name}.dll; the agent was built without gcc or for another platform";
        }

        if (!NativeLibrary.TryLoad(path, out nint library))
        {
            return $"cannot load {path}";
        }

        if (!NativeLibrary.TryGetExport(library, "governor_jithook_abi", out nint abi)
            || !NativeLibrary.TryGetExport(library, "governor_jithook_configure", out nint configure)
            || !NativeLibrary.TryGetExport(library, "governor_jithook_compile_method", out hook))
        {
            return $"{path} lacks the expected exports";
        }

        int expected = (NativeVersion << 16) | sizeof(HookConfig);
        int actual = ((delegate* unmanaged<int>)abi)();
        if (actual != expected)
        {
            return $"{path} does not match this engine (ABI 0x{actual:X}, expected 0x{expected:X}); rebuild the agent";
        }

        ((delegate* unmanaged<HookConfig*, void>)configure)(s_config);
        return null;
    }

    private static string? NativeLibraryPath()
    {
        string? directory = Path.GetDirectoryName(typeof(JitHook).Assembly.Location);
        for (int up = 0; up < 2 && !string.IsNullOrEmpty(directory); up++)
        {
            string candidate = Path.Combine(directory, NativeLibraryName);
            if (File.Exists(candidate))
            {
                return candidate;
            }

            // ReadyToRun images live in core/net<major>.0/, the library once in core/.
            directory = Path.GetFileName(directory).StartsWith("net", StringComparison.Ordinal) ? Path.GetDirectoryName(directory) : null;
        }

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
        var config = s_config;
        long position = Volatile.Read(ref config->Compilations);
        int bestAge = int.MaxValue;
        code = 0;
        for (int i = 0; i < RingSize; i++)
        {
            if (Volatile.Read(ref config->RingMethods[i]) == method)
            {
                int age = (int)((position - i) & (RingSize - 1));
                if (age < bestAge)
                {
                    bestAge = age;
                    code = Volatile.Read(ref config->RingCodes[i]);
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
    /// below the caller and can only finish after it returns. A compilation the runtime abandons
    /// with an exception leaves the count too (the native hook's cleanup runs as it unwinds).
    /// </summary>
    public static bool WaitForCompilationsInFlight(TimeSpan timeout)
    {
        var config = s_config;
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_graceLock)
        {
            for (int flip = 0; flip < 2; flip++)
            {
                int old = Interlocked.Increment(ref config->Phase) - 1;
                int spins = 0;
                while (Interlocked.CompareExchange(ref config->InFlight[old & 1], 0, 0) - OwnInBucket(config, old & 1) > 0)
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

    /// <summary>
    /// Compilations inside the hook that counted themselves in <paramref name="bucket"/> and cannot
    /// finish before the patch does: the calling thread's own, and those of parked threads.
    /// </summary>
    private static int OwnInBucket(HookConfig* config, int bucket)
    {
        nint self = s_pthreadSelf();
        int count = 0;
        for (int i = 0; i < InFlightSlots; i++)
        {
            nint thread = Volatile.Read(ref config->InFlightThreads[i]);
            if (thread != 0 && (thread == self || IsParked(thread)) && Volatile.Read(ref config->InFlightBuckets[i]) == bucket)
            {
                count++;
            }
        }

        return count;
    }

    // Threads blocked waiting for a patch in progress (the engine's lock, its self-test). The app
    // runs alongside the agent's start: a thread of the app that is inside the JIT (an assembly it
    // needed loaded, and a plugin patches from the load event) can wait for the engine while the
    // engine waits for that very compilation; without this, each such patch waited 2 s.
    private static readonly nint[] s_parked = new nint[InFlightSlots];

    /// <summary>Marks the calling thread as blocked on the engine until <see cref="Unpark"/>.</summary>
    public static bool Park()
    {
        if (s_config == null)
        {
            return false;
        }

        nint self = s_pthreadSelf();
        for (int i = 0; i < s_parked.Length; i++)
        {
            if (Interlocked.CompareExchange(ref s_parked[i], self, 0) == 0)
            {
                return true;
            }
        }

        return false;
    }

    public static void Unpark()
    {
        nint self = s_pthreadSelf();
        for (int i = 0; i < s_parked.Length; i++)
        {
            if (Volatile.Read(ref s_parked[i]) == self)
            {
                Volatile.Write(ref s_parked[i], 0);
                return;
            }
        }
    }

    private static bool IsParked(nint thread)
    {
        for (int i = 0; i < s_parked.Length; i++)
        {
            if (Volatile.Read(ref s_parked[i]) == thread)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Runs <paramref name="hook"/> through each of its paths with libc's <c>abs</c> standing in for
    /// the JIT (called with 0 first it returns 0, "compiled", without side effects or a system call)
    /// and a fake target, and checks what it did to the target's state and the shared counters.
    /// </summary>
    private static string? Verify(nint hook)
    {
        if (hook == 0)
        {
            return "no hook";
        }

        const long Sentinel = 0x676F7665726E6F72;
        var function = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)hook;
        s_compileMethod = (delegate* unmanaged<nint, nint, nint, uint, byte**, uint*, int>)Libc.Abs;
        s_config->RealCompileMethod = Libc.Abs;
        nint fakeMethod = (nint)NativeMemory.Alloc(1);
        var state = TargetTable.GetOrAdd(fakeMethod);
        state->SlotCount = 1;
        state->Entries[0] = Sentinel;
        var methodInfo = (nint*)NativeMemory.AllocZeroed(16, (nuint)sizeof(nint));
        var entry = (byte**)NativeMemory.AllocZeroed(2, (nuint)sizeof(nint));
        var size = (uint*)(entry + 1);
        methodInfo[0] = fakeMethod;
        long before = s_config->Compilations;
        try
        {
            // First compilation (redirected), then a recompilation on this thread (the OSR path), then inactive.
            state->Active = 1;
            if (function(0, 0, (nint)methodInfo, 0, entry, size) != 0 || (long)*entry != Sentinel || state->Substitutions != 1 || state->HasCode != 1)
            {
                return "a first compilation of a target was not redirected";
            }

            state->HasLoops = 1;
            *entry = null;
            if (function(0, 0, (nint)methodInfo, 0, entry, size) != 0 || *entry != null || state->OsrSkips != 1)
            {
                return "a recompilation on the running thread was redirected";
            }

            state->Active = 0;
            state->HasLoops = 0;
            _ = function(0, 0, (nint)methodInfo, 0, entry, size);

            // An unknown method (the common case: a table miss).
            methodInfo[0] = 0;
            _ = function(0, 0, (nint)methodInfo, 0, entry, size);
            if (*entry != null || state->Substitutions != 1 || s_config->Compilations - before != 4)
            {
                return "compilations of inactive or unknown methods were changed or not counted";
            }

            if (s_config->InFlight[0] != 0 || s_config->InFlight[1] != 0 || OwnInBucket(s_config, 0) + OwnInBucket(s_config, 1) != 0)
            {
                return "the in-flight bookkeeping did not return to zero";
            }

            return null;
        }
        finally
        {
            NativeMemory.Free(methodInfo);
            NativeMemory.Free(entry);
        }
    }

    /// <summary>Records the calling thread as compiling in <paramref name="bucket"/>; -1 when every slot is taken (it then counts as another thread's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static int ClaimSlot(HookConfig* config, int bucket)
    {
        nint self = s_pthreadSelf();
        for (int i = 0; i < InFlightSlots; i++)
        {
            if (Volatile.Read(ref config->InFlightThreads[i]) == 0 && Interlocked.CompareExchange(ref config->InFlightThreads[i], self, 0) == 0)
            {
                Volatile.Write(ref config->InFlightBuckets[i], bucket);
                return i;
            }
        }

        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ReleaseSlot(HookConfig* config, int slot)
    {
        if (slot >= 0)
        {
            Volatile.Write(ref config->InFlightThreads[slot], 0);
        }
    }

    /// <summary>The managed hook (the fallback); governor_jithook_compile_method is its native twin.</summary>
    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CompileMethod(nint jit, nint jitInfo, nint methodInfo, uint flags, byte** nativeEntry, uint* nativeSize)
    {
        var config = s_config;
        int bucket = Volatile.Read(ref config->Phase) & 1;
        int* inFlight = config->InFlight + bucket;
        // Claimed before counting: a waiter that sees the count also sees whose it is.
        int slot = ClaimSlot(config, bucket);
        Interlocked.Increment(ref *inFlight);

        // CORINFO_METHOD_INFO starts with the method handle.
        nint method = *(nint*)methodInfo;
        var target = TargetTable.FindInline(method);
        if (target != null && DeclinesTierUp(config, target))
        {
            Interlocked.Increment(ref target->DeclinedTierUps);
            Interlocked.Decrement(ref *inFlight);
            ReleaseSlot(config, slot);
            return CorJitSkipped;
        }

        int result = s_compileMethod(jit, jitInfo, methodInfo, flags, nativeEntry, nativeSize);
        if (result == 0)
        {
            long position = Interlocked.Increment(ref config->Compilations);
            int index = (int)(position & (RingSize - 1));
            Volatile.Write(ref config->RingCodes[index], (nint)(*nativeEntry));
            Volatile.Write(ref config->RingMethods[index], method);
            if (target != null)
            {
                OnCompiled(target, nativeEntry);
            }
        }

        Interlocked.Decrement(ref *inFlight);
        ReleaseSlot(config, slot);
        return result;
    }

    /// <summary>
    /// With OSR and dynamic PGO on, the tier-up of a method with loops is an instrumented tier0
    /// compilation with patchpoints: redirecting it would crash at its first OSR transition, and
    /// publishing it unredirected would lose calls. So it is declined while the target is patched:
    /// the runtime keeps the current (redirected) code and OSR still works from it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool DeclinesTierUp(HookConfig* config, TargetState* state) =>
        config->LoopTierUpIsOptimized == 0 && Volatile.Read(ref state->Active) != 0 && Volatile.Read(ref state->HasLoops) != 0
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

    /// <summary>
    /// Shared by the engine and the hook (native or managed); mirrors
    /// <c>struct governor_jithook_config</c> in governor_jithook.c field for field (the native hook
    /// reports <c>(version &lt;&lt; 16) | sizeof</c>, checked before use).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct HookConfig
    {
        public nint RealCompileMethod;
        public nint* TableKeys;
        public TargetState** TableValues;
        public int TableMask;
        public int TableHashShift;
        public int OffsetActive;
        public int OffsetHasCode;
        public int OffsetHasLoops;
        public int OffsetSlotCount;
        public int OffsetLastSlot;
        public int OffsetSubstitutions;
        public int OffsetOsrSkips;
        public int OffsetDeclinedTierUps;
        public int OffsetEntries;
        public int OffsetCodes;
        public int LoopTierUpIsOptimized;
        public int RingMask;
        public nint* RingMethods;
        public nint* RingCodes;
        public long Compilations;
        public int Phase;
        public fixed int InFlight[2];
        public int InFlightSlots;
        public nint* InFlightThreads;
        public int* InFlightBuckets;
    }
}
