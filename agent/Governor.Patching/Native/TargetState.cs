using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

/// <summary>
/// Per-target state shared by the JIT hook, the generated entry methods and the engine. Lives in
/// native memory (never freed, never moved) so generated code can embed its address and the hook
/// can read it without touching the GC heap.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TargetState
{
    /// <summary>How many code versions of one target can be redirected (tier0, instrumented, tier1, hot patches).</summary>
    public const int MaxSlots = 8;

    /// <summary>The target's method handle (the JIT's CORINFO_METHOD_HANDLE).</summary>
    public nint Method;

    /// <summary>1 while patches are applied: new compilations are redirected.</summary>
    public int Active;

    /// <summary>1 once the target is known to have code (so a later foreground compilation can only be OSR).</summary>
    public int HasCode;

    /// <summary>1 when the IL has a backward branch: its tier0 code has OSR patchpoints.</summary>
    public int HasLoops;

    /// <summary>How many slots have entry methods (at most <see cref="MaxSlots"/>).</summary>
    public int SlotCount;

    /// <summary>Index of the last slot handed out; -1 when none.</summary>
    public int LastSlot;

    /// <summary>Slot of the original code calls use now; -1 before any redirected code ran. Only grows.</summary>
    public int Current;

    /// <summary>The current dispatcher's code (prefixes, postfixes, finalizers); 0 calls the original directly.</summary>
    public nint Dispatcher;

    public long Substitutions;
    /// <summary>Compilations left alone: OSR variants and first (tier0) compilations of methods with loops.</summary>
    public long OsrSkips;

    /// <summary>Tier-up compilations declined (see JitHook.DeclinesTierUp).</summary>
    public long DeclinedTierUps;

    /// <summary>Code of the generated entry method for each slot: what the runtime publishes as the target's code.</summary>
    public fixed long Entries[MaxSlots];

    /// <summary>The real code (or its relocated trampoline) for each slot: "the original".</summary>
    public fixed long Codes[MaxSlots];

    public static TargetState* Allocate(nint method)
    {
        var state = (TargetState*)NativeMemory.AllocZeroed((nuint)sizeof(TargetState));
        state->Method = method;
        state->LastSlot = -1;
        state->Current = -1;
        return state;
    }

    /// <summary>Called by entry method <paramref name="slot"/> the first time it runs: its code is published, so its original is ready.</summary>
    public static void Promote(TargetState* state, int slot)
    {
        int current = Volatile.Read(ref state->Current);
        while (current < slot)
        {
            int seen = Interlocked.CompareExchange(ref state->Current, slot, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
