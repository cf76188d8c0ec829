using System.Reflection;
using System.Runtime.CompilerServices;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>
/// The native half of one patched method: its <see cref="TargetState"/>, the entry code the
/// runtime publishes for each slot, and the redirection of new compilations (JIT hook) and of
/// code already published (hot patch). <see cref="PatchedMethod"/> uses it with generated entry
/// methods and dispatchers; <see cref="SelfTest"/> uses the same code with precompiled ones, so
/// the startup self-test proves exactly the mechanism real patches rely on. Kept for the
/// process lifetime once created. Callers serialize.
/// </summary>
internal sealed unsafe class CodeRedirection
{
    private readonly RuntimeMethodHandle _compiled;
    private readonly RuntimeTypeHandle[]? _instantiation;
    private readonly string _name;
    private readonly Action<PatchLogLevel, string> _log;

    // Per slot: the entry code, and the published code hot-patched into that slot (0 if none).
    // Plain arrays of at most MaxSlots: no generic collection over a value type, whose code would
    // be JIT-compiled at startup by the self-test.
    private readonly nint[] _entryCodes = new nint[TargetState.MaxSlots];
    private readonly nint[] _hotPatched = new nint[TargetState.MaxSlots];

    /// <param name="compiled">The method whose code the runtime compiles (for shared generic code, the shared method).</param>
    /// <param name="instantiation">Its type arguments (class, then method) when it is generic, for compiling it ahead.</param>
    /// <param name="name">For messages.</param>
    /// <param name="hasLoops">Whether the IL has a backward branch (see <see cref="TargetState.HasLoops"/>).</param>
    /// <param name="log">Debug and warning messages.</param>
    public CodeRedirection(RuntimeMethodHandle compiled, RuntimeTypeHandle[]? instantiation, string name, bool hasLoops, Action<PatchLogLevel, string> log)
    {
        _compiled = compiled;
        _instantiation = instantiation;
        _name = name;
        _log = log;
        State = TargetTable.GetOrAdd(compiled.Value);
        State->HasLoops = hasLoops ? 1 : 0;
    }

    /// <summary>The native state; generated code embeds its address.</summary>
    public TargetState* State { get; }

    /// <summary>
    /// Installs the entry code of each slot (once, before the first <see cref="Apply"/>). With
    /// <paramref name="entryMethods"/> (the methods that own that code), the code is attributed to
    /// the target (see <see cref="CodeHeader"/>); returns false when that was not possible, and
    /// then no slot was attributed.
    /// </summary>
    public bool SetEntries(nint[] entryCodes, nint[]? entryMethods = null)
    {
        if (entryCodes.Length is 0 or > TargetState.MaxSlots || (entryMethods is not null && entryMethods.Length != entryCodes.Length))
        {
            throw new ArgumentOutOfRangeException(nameof(entryCodes), $"1 to {TargetState.MaxSlots} entries, each with its method");
        }

        bool attributed = entryMethods is not null && Attribute(entryCodes, entryMethods);
        for (int slot = 0; slot < entryCodes.Length; slot++)
        {
            State->Entries[slot] = entryCodes[slot];
            _entryCodes[slot] = entryCodes[slot];
        }

        Volatile.Write(ref State->SlotCount, entryCodes.Length);
        return attributed;
    }

    /// <summary>All or none: each entry's header is checked before any is changed, and a failure undoes the ones done.</summary>
    private bool Attribute(nint[] entryCodes, nint[] entryMethods)
    {
        // The entries are compiled, so their code and headers are mapped by now: one read serves all.
        var map = Libc.MemoryMap.Read();
        for (int slot = 0; slot < entryCodes.Length; slot++)
        {
            if (CodeHeader.MethodOf(entryCodes[slot], map) is var owner && owner != entryMethods[slot] && owner != _compiled.Value)
            {
                return false;
            }
        }

        for (int slot = 0; slot < entryCodes.Length; slot++)
        {
            if (!CodeHeader.Attribute(entryCodes[slot], entryMethods[slot], _compiled.Value, map))
            {
                for (int undo = 0; undo < slot; undo++)
                {
                    _ = CodeHeader.Attribute(entryCodes[undo], _compiled.Value, entryMethods[undo], map);
                }

                return false;
            }
        }

        return true;
    }

    /// <summary>Makes <paramref name="dispatcher"/> (compiled code with the target's physical signature) run on every call from now on.</summary>
    public void Apply(nint dispatcher)
    {
        Volatile.Write(ref State->Dispatcher, dispatcher);
        if (Volatile.Read(ref State->Active) == 0)
        {
            Activate();
        }
    }

    /// <summary>Calls go to the original again: new compilations are left alone and hot-patched code is restored.</summary>
    public void Deactivate()
    {
        Volatile.Write(ref State->Active, 0);
        Volatile.Write(ref State->Dispatcher, 0);
        foreach (var code in _hotPatched)
        {
            if (code != 0)
            {
                HotPatcher.Restore(code);
            }
        }
    }

    /// <summary>
    /// Redirects new compilations (JIT hook) and the code that runs now (hot patch), closing the
    /// window where a compilation looked the target up just before it was registered.
    /// </summary>
    private void Activate()
    {
        Volatile.Write(ref State->Active, 1);
        if (!Inlining.Disable(_compiled.Value))
        {
            _log(PatchLogLevel.Debug, $"{_name}: inlining cannot be disabled on this runtime; callers that inline it are not intercepted");
        }

        Prepare();
        if (!JitHook.WaitForCompilationsInFlight(TimeSpan.FromSeconds(2)))
        {
            _log(PatchLogLevel.Warning, $"{_name}: compilations stayed in flight for 2 s while patching; verifying the published code anyway");
        }

        bool recent = JitHook.LatestCompilation(_compiled.Value, out nint latest);
        if (recent)
        {
            Volatile.Write(ref State->HasCode, 1);
        }

        // A compilation that finished just before the registration was visible publishes real code
        // shortly after: wait (bounded) until it is published and redirected. An on-stack
        // replacement variant is never published, so that case ends at the deadline.
        bool pending = recent && !IsOurs(latest);
        long deadline = Environment.TickCount64 + 200;
        while (EnsureRedirected() != latest && pending && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(1);
        }
    }

    /// <summary>Hot-patches the published code if it is real code not yet redirected; returns it.</summary>
    private nint EnsureRedirected()
    {
        var kind = CodeResolver.Resolve(_compiled.GetFunctionPointer(), out nint address);
        if (kind != CodeKind.Code || IndexOf(_entryCodes, address) >= 0 || HotPatcher.IsRedirected(address))
        {
            return address;
        }

        Volatile.Write(ref State->HasCode, 1);

        // Code redirected before (then restored by an unpatch) keeps its slot and trampoline.
        int slot = IndexOf(_hotPatched, address);
        if (slot < 0)
        {
            slot = Interlocked.Increment(ref State->LastSlot);
            if (slot >= State->SlotCount)
            {
                throw new PatchException($"{_name} has had more than {State->SlotCount} code versions; it cannot be redirected again");
            }

            // The original must be callable before the first call can reach the entry.
            Volatile.Write(ref State->Codes[slot], HotPatcher.Prepare(address));
            _hotPatched[slot] = address;
        }

        HotPatcher.Redirect(address, (nint)State->Entries[slot]);
        _log(PatchLogLevel.Debug, $"{_name}: redirected running code at 0x{address:X} (slot {slot})");
        return address;
    }

    private static int IndexOf(nint[] codes, nint code)
    {
        for (int i = 0; i < codes.Length; i++)
        {
            if (codes[i] == code)
            {
                return i;
            }
        }

        return -1;
    }

    private bool IsOurs(nint code)
    {
        for (int slot = 0; slot < TargetState.MaxSlots; slot++)
        {
            if (State->Codes[slot] == code)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Gives the target code now: an IL method is compiled (and redirected by the hook); a
    /// ReadyToRun method gets its precompiled code published so that it can be hot-patched.
    /// </summary>
    private void Prepare()
    {
        try
        {
            if (_instantiation is not null)
            {
                RuntimeHelpers.PrepareMethod(_compiled, _instantiation);
            }
            else
            {
                RuntimeHelpers.PrepareMethod(_compiled);
            }
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or TypeLoadException)
        {
            _log(PatchLogLevel.Debug, $"{_name}: not compiled ahead ({e.Message}); the first compilation will be redirected");
        }
    }

    /// <summary>Compiles a method (generated or precompiled entry/dispatcher) and returns its code.</summary>
    public static nint CompiledCode(MethodBase method)
    {
        RuntimeHelpers.PrepareMethod(method.MethodHandle);
        if (CodeResolver.Resolve(method.MethodHandle.GetFunctionPointer(), out nint address) != CodeKind.Code)
        {
            throw new PatchException($"method {method.Name} has no code after compilation");
        }

        return address;
    }
}
