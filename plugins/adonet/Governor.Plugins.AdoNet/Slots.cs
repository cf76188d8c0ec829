using System.Collections.Concurrent;

namespace Governor.Plugins.AdoNet;

/// <summary>
/// Distinct value types that make each detour's replacement a distinct method. A detour's
/// replacement reaches the original through a pointer the engine hands out per target; the
/// replacement must therefore know which target it replaces, and a static method cannot be told
/// by its caller. So each target gets its own generic instantiation of a replacement class
/// (<c>NonQuery&lt;Slot1&lt;Slot0&lt;SlotEnd&gt;&gt;&gt;</c>, ...), whose static field holds that
/// target's original. Value-type arguments make the runtime compile each instantiation
/// separately, so the field is read directly, with no lookup on the call path.
/// </summary>
internal static class Slots
{
    /// <summary>Bits of the slot number: at most 4,096 detoured methods (the engine tracks 2,048).</summary>
    private const int Bits = 12;

    private static readonly ConcurrentDictionary<int, Type> s_types = new();
    private static int s_next = -1;

    public static int Capacity => 1 << Bits;

    /// <summary>A slot number not used before in this process.</summary>
    public static int Next()
    {
        int slot = Interlocked.Increment(ref s_next);
        return slot < Capacity ? slot : throw new InvalidOperationException($"more than {Capacity} ADO.NET methods to detour");
    }

    public static Type Type(int slot) => s_types.GetOrAdd(slot, static n =>
    {
        var type = typeof(SlotEnd);
        for (int bit = 0; bit < Bits; bit++)
        {
            type = (((n >> bit) & 1) == 0 ? typeof(Slot0<>) : typeof(Slot1<>)).MakeGenericType(type);
        }

        return type;
    });

    /// <summary>
    /// The original's pointer. A call can reach a replacement between the engine installing the
    /// detour and the scanner storing the pointer (a few instructions later, on the patching
    /// thread): wait for it.
    /// </summary>
    public static nint Wait(ref nint original)
    {
        nint pointer = Volatile.Read(ref original);
        while (pointer == 0)
        {
            Thread.Yield();
            pointer = Volatile.Read(ref original);
        }

        return pointer;
    }
}

internal struct SlotEnd
{
}

internal struct Slot0<T>
    where T : struct
{
}

internal struct Slot1<T>
    where T : struct
{
}
