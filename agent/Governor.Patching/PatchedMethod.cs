using System.Reflection;
using System.Runtime.CompilerServices;
using Governor.Patching.Emit;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>
/// One patched method: its native state, its generated entry methods, its patches and detour.
/// Kept for the process lifetime once created (unpatching switches it off). Callers hold the
/// engine's lock.
/// </summary>
internal sealed unsafe class PatchedMethod
{
    private readonly TargetState* _state;
    private readonly Action<PatchLogLevel, string> _log;
    private readonly List<PatchRecord> _patches = new();
    private readonly HashSet<nint> _entryCodes;
    private readonly Dictionary<nint, int> _redirectedSlots = new();
    private readonly List<nint> _redirected = new();

    public PatchedMethod(TargetSignature signature, Action<PatchLogLevel, string> log)
    {
        Signature = signature;
        _log = log;
        _state = TargetTable.GetOrAdd(signature.Compiled.MethodHandle.Value);
        _state->HasLoops = IlScanner.HasBackwardBranch(signature.Target) ? 1 : 0;
        var entries = EntryEmitter.Build(signature, _state);
        for (int slot = 0; slot < TargetState.MaxSlots; slot++)
        {
            _state->Entries[slot] = entries.EntryCodes[slot];
        }

        _entryCodes = new HashSet<nint>(entries.EntryCodes);
        CallOriginal = entries.CallOriginal;
    }

    public TargetSignature Signature { get; }

    public MethodInfo CallOriginal { get; }

    public (MethodInfo Replacement, string Owner)? Detour { get; private set; }

    public string Name => $"{Signature.Target.DeclaringType?.FullName}.{Signature.Target.Name}";

    public void Add(PatchRecord patch)
    {
        _patches.Add(patch);
        try
        {
            Update();
        }
        catch
        {
            _patches.Remove(patch);
            throw;
        }
    }

    public void Remove(PatchRecord patch)
    {
        if (_patches.Remove(patch))
        {
            Update();
        }
    }

    public void SetDetour((MethodInfo Replacement, string Owner)? detour)
    {
        var previous = Detour;
        Detour = detour;
        try
        {
            Update();
        }
        catch
        {
            Detour = previous;
            throw;
        }
    }

    private void Update()
    {
        if (_patches.Count == 0 && Detour is null)
        {
            Deactivate();
            return;
        }

        var dispatcher = DispatcherEmitter.Build(Signature, _state, PatchRecord.Sort(_patches), Detour?.Replacement);
        nint code = EntryEmitter.CompiledCode(dispatcher);
        Volatile.Write(ref _state->Dispatcher, code);
        if (Volatile.Read(ref _state->Active) == 0)
        {
            Activate();
        }
    }

    /// <summary>
    /// Redirects new compilations (JIT hook) and the code that runs now (hot patch), closing the
    /// window where a compilation looked the target up just before it was registered.
    /// </summary>
    private void Activate()
    {
        Volatile.Write(ref _state->Active, 1);
        var compiled = Signature.Compiled;
        if (!Inlining.Disable(compiled))
        {
            _log(PatchLogLevel.Debug, $"{Name}: inlining cannot be disabled on this runtime; callers that inline it are not intercepted");
        }

        Prepare(compiled);
        if (!JitHook.WaitForInFlight(TimeSpan.FromSeconds(2)))
        {
            _log(PatchLogLevel.Warning, $"{Name}: compilations stayed in flight for 2 s while patching; verifying the published code anyway");
        }

        bool recent = JitHook.LatestCompilation(compiled.MethodHandle.Value, out nint latest);
        if (recent)
        {
            Volatile.Write(ref _state->HasCode, 1);
        }

        // A compilation that finished just before the registration was visible publishes real code
        // shortly after: wait (bounded) until it is published and redirected. An on-stack
        // replacement variant is never published, so that case ends at the deadline.
        bool pending = recent && !IsOurs(latest);
        long deadline = Environment.TickCount64 + 200;
        while (EnsureRedirected(compiled) != latest && pending && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(1);
        }
    }

    /// <summary>Hot-patches the published code if it is real code not yet redirected; returns it.</summary>
    private nint EnsureRedirected(MethodBase compiled)
    {
        var (kind, address) = CodeResolver.Resolve(compiled.MethodHandle.GetFunctionPointer());
        if (kind != CodeKind.Code || _entryCodes.Contains(address) || HotPatcher.IsRedirected(address))
        {
            return address;
        }

        Volatile.Write(ref _state->HasCode, 1);

        // Code redirected before (then restored by an unpatch) keeps its slot and trampoline.
        if (!_redirectedSlots.TryGetValue(address, out int slot))
        {
            slot = Interlocked.Increment(ref _state->LastSlot);
            if (slot >= TargetState.MaxSlots)
            {
                throw new PatchException($"{Name} has had more than {TargetState.MaxSlots} code versions; it cannot be redirected again");
            }

            _redirectedSlots[address] = slot;
        }

        HotPatcher.Redirect(address, (nint)_state->Entries[slot], trampoline => Volatile.Write(ref _state->Codes[slot], trampoline));
        _redirected.Add(address);
        _log(PatchLogLevel.Debug, $"{Name}: redirected running code at 0x{address:X} (slot {slot})");
        return address;
    }

    private bool IsOurs(nint code)
    {
        for (int slot = 0; slot < TargetState.MaxSlots; slot++)
        {
            if (_state->Codes[slot] == code)
            {
                return true;
            }
        }

        return false;
    }

    private void Deactivate()
    {
        Volatile.Write(ref _state->Active, 0);
        Volatile.Write(ref _state->Dispatcher, 0);
        foreach (var code in _redirected)
        {
            HotPatcher.Restore(code);
        }

        _redirected.Clear();
    }

    /// <summary>
    /// Gives the target code now: an IL method is compiled (and redirected by the hook); a
    /// ReadyToRun method gets its precompiled code published so that it can be hot-patched.
    /// </summary>
    private void Prepare(MethodBase compiled)
    {
        try
        {
            if (compiled.IsGenericMethod || compiled.DeclaringType!.IsGenericType)
            {
                var typeArguments = compiled.DeclaringType!.IsGenericType ? compiled.DeclaringType.GetGenericArguments() : Type.EmptyTypes;
                var methodArguments = compiled.IsGenericMethod ? compiled.GetGenericArguments() : Type.EmptyTypes;
                RuntimeHelpers.PrepareMethod(compiled.MethodHandle, typeArguments.Concat(methodArguments).Select(t => t.TypeHandle).ToArray());
            }
            else
            {
                RuntimeHelpers.PrepareMethod(compiled.MethodHandle);
            }
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or TypeLoadException)
        {
            _log(PatchLogLevel.Debug, $"{Name}: not compiled ahead ({e.Message}); the first compilation will be redirected");
        }
    }
}
