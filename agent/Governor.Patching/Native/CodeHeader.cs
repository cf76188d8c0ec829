namespace Governor.Patching.Native;

/// <summary>
/// Makes the runtime attribute an entry method's code to the target it is published for.
/// <para>
/// The runtime maps JIT-compiled code back to its method through the header in front of the code
/// (<c>CodeHeader</c>, a pointer to a <c>RealCodeHeader</c> whose <c>phdrMDesc</c> is the method).
/// It does so for the code a vtable slot holds when the JIT devirtualizes a call
/// (<c>MethodTable::GetMethodDescForSlot</c>), when a derived type's vtable is built from its
/// parent's, for delegates and stack walks. An entry published as a target's code but still
/// attributed to the entry method made the JIT devirtualize a call to a redirected virtual method
/// into the entry (a static method of another class) and crash the process (SIGSEGV in the
/// runtime, measured on .NET 10 with a derived type loaded after the patch). Entries are
/// generated per target and only ever run as that target's code, so attributing them to it is
/// what the runtime expects.
/// </para>
/// <para>
/// The layout is internal: <c>RealCodeHeader</c> starts with the debug info, EH info and GC info
/// pointers, then the method (.NET 8, 9 and 10; <c>FEATURE_GDBJIT</c>, which would add a field, is
/// off in shipped runtimes). Nothing is written unless the word there is exactly the entry
/// method's own handle, in writable memory; otherwise the caller is told and refuses what needs it.
/// </para>
/// </summary>
internal static unsafe class CodeHeader
{
    private const int MethodOffset = 3 * 8;

    /// <summary>
    /// Attributes <paramref name="code"/> (the start of <paramref name="owner"/>'s JIT-compiled
    /// code) to <paramref name="target"/>. Returns false, changing nothing, when the header is not
    /// the expected layout.
    /// </summary>
    /// <param name="code">Start of the entry method's code.</param>
    /// <param name="owner">The entry method's handle (its MethodDesc).</param>
    /// <param name="target">The target's handle.</param>
    /// <param name="map">The process's mappings, read after the code was compiled.</param>
    public static bool Attribute(nint code, nint owner, nint target, Libc.MemoryMap map)
    {
        if (code == 0 || owner == 0 || target == 0 || !Mapped(map, code - sizeof(nint), write: false))
        {
            return false;
        }

        nint header = *(nint*)(code - sizeof(nint));
        if (header == 0 || !Mapped(map, header + MethodOffset, write: true))
        {
            return false;
        }

        nint seen = Interlocked.CompareExchange(ref *(nint*)(header + MethodOffset), target, owner);
        return seen == owner || seen == target;
    }

    /// <summary>The method the runtime attributes <paramref name="code"/> to (for tests), or 0 when the header is unreadable.</summary>
    public static nint MethodOf(nint code, Libc.MemoryMap map)
    {
        if (code == 0 || !Mapped(map, code - sizeof(nint), write: false))
        {
            return 0;
        }

        nint header = *(nint*)(code - sizeof(nint));
        return header != 0 && Mapped(map, header + MethodOffset, write: false) ? *(nint*)(header + MethodOffset) : 0;
    }

    /// <summary>Whether the word at <paramref name="address"/> is mapped readable (and writable if <paramref name="write"/>).</summary>
    private static bool Mapped(Libc.MemoryMap map, nint address, bool write)
    {
        int wanted = write ? Libc.ProtRead | Libc.ProtWrite : Libc.ProtRead;
        int first = map.ProtectionOf(address);
        int last = map.ProtectionOf(address + sizeof(nint) - 1);
        return first >= 0 && last >= 0 && (first & wanted) == wanted && (last & wanted) == wanted;
    }
}
