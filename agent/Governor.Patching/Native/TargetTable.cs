using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

/// <summary>
/// Method handle -> <see cref="TargetState"/> map read by the JIT hook without locks or allocation:
/// open addressing in native memory, insert-only (a target's state is kept for the process
/// lifetime and switched off instead of removed). Writers serialize on <see cref="_writeLock"/>.
/// </summary>
internal static unsafe class TargetTable
{
    public const int Capacity = 4096;

    /// <summary>64 - log2(<see cref="Capacity"/>): the hash keeps the top bits of the product.</summary>
    public const int HashShift = 52;
    private static readonly object _writeLock = new();
    private static nint* s_keys;
    private static TargetState** s_values;
    private static int s_count;

    /// <summary>The keys (method handles; 0 = free), for the native JIT hook.</summary>
    public static nint* Keys => s_keys;

    /// <summary>The states, parallel to <see cref="Keys"/>.</summary>
    public static TargetState** Values => s_values;

    public static void Initialize()
    {
        s_keys = (nint*)NativeMemory.AllocZeroed(Capacity, (nuint)sizeof(nint));
        s_values = (TargetState**)NativeMemory.AllocZeroed(Capacity, (nuint)sizeof(nint));
    }

    /// <summary>The state for <paramref name="method"/>, or null.</summary>
    public static TargetState* Find(nint method) => FindInline(method);

    /// <summary>The lookup the JIT hook inlines (no separate method to compile before the hook is live).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static TargetState* FindInline(nint method)
    {
        nint* keys = s_keys;
        int index = Hash(method);
        for (int probe = 0; probe < Capacity; probe++)
        {
            nint key = Volatile.Read(ref keys[index]);
            if (key == method)
            {
                return s_values[index];
            }

            if (key == 0)
            {
                return null;
            }

            index = (index + 1) & (Capacity - 1);
        }

        return null;
    }

    /// <summary>The state for <paramref name="method"/>, created on first use.</summary>
    public static TargetState* GetOrAdd(nint method)
    {
        lock (_writeLock)
        {
            // One probe sequence finds the existing entry or the free slot to insert at (no call
            // to Find: the JIT hook's inlined copy would be compiled separately at startup).
            int index = Hash(method);
            while (s_keys[index] != 0)
            {
                if (s_keys[index] == method)
                {
                    return s_values[index];
                }

                index = (index + 1) & (Capacity - 1);
            }

            if (s_count >= Capacity / 2)
            {
                throw new PatchException($"The patch engine tracks at most {Capacity / 2} methods.");
            }

            var state = TargetState.Allocate(method);
            s_values[index] = state;
            Volatile.Write(ref s_keys[index], method);
            s_count++;
            return state;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(nint method) => (int)(((ulong)method * 0x9E3779B97F4A7C15UL) >> HashShift) & (Capacity - 1);
}
