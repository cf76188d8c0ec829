namespace Governor.Patching.Emit;

/// <summary>Support for generic code shared across reference-type instantiations (see <see cref="TargetSignature"/>).</summary>
internal static unsafe class SharedGenerics
{
    // MethodDesc header (runtime-internal, verified below on every use): a 16-bit word whose low 12
    // bits are the metadata token's remainder, two bytes of chunk and method index, the 16-bit slot
    // number, and 16 bits of flags whose low 3 bits are the MethodDesc classification.
    private const int TokenRemainderMask = 0x0FFF;
    private const int SlotOffset = 4;
    private const int FlagsOffset = 6;
    private const int ClassificationMask = 0x7;
    private const int InstantiatedClassification = 5;

    /// <summary>
    /// The shared-code method that an instantiating stub method (what reflection hands out for a
    /// generic method or a static method of a generic class instantiated over reference types)
    /// wraps. The runtime keeps it in the first field after the MethodDesc header: at offset 8 on
    /// .NET 8 and 16 on .NET 9 and 10 (which added a code-data pointer to every MethodDesc). The
    /// candidate is accepted only if it is a MethodDesc for the same method (same token remainder
    /// and slot) and differs from the stub; the other offset is tried too, so a runtime that moved
    /// the field is still found or refused, never guessed. Both candidate fields hold pointers to
    /// runtime structures on every supported version, so reading their first 8 bytes is safe.
    /// </summary>
    /// <exception cref="PatchException">The shared method cannot be identified on this runtime.</exception>
    public static RuntimeMethodHandle FindSharedMethod(RuntimeMethodHandle stub)
    {
        nint stubDesc = stub.Value;
        if ((*(ushort*)(stubDesc + FlagsOffset) & ClassificationMask) != InstantiatedClassification)
        {
            throw new PatchException("the method reflection returned for this instantiation is not an instantiating stub; its shared code cannot be identified on this runtime");
        }

        int preferred = Environment.Version.Major >= 9 ? 16 : 8;
        foreach (int offset in new[] { preferred, 24 - preferred })
        {
            nint candidate = *(nint*)(stubDesc + offset);
            if (candidate != 0 && candidate != stubDesc && (candidate & 7) == 0 && SameMethod(stubDesc, candidate))
            {
                return RuntimeMethodHandle.FromIntPtr(candidate);
            }
        }

        throw new PatchException("the shared code behind this instantiation cannot be identified on this runtime (MethodDesc layout not recognized)");
    }

    /// <summary>
    /// Called by generated routers for instance methods of generic classes: true when
    /// <paramref name="instance"/>'s class is, or derives from, <paramref name="declaringType"/>
    /// (the exact instantiation a patch was applied to).
    /// </summary>
    public static bool DeclaredBy(object? instance, Type declaringType)
    {
        for (var type = instance?.GetType(); type is not null; type = type.BaseType)
        {
            if (type == declaringType)
            {
                return true;
            }
        }

        return false;
    }

    private static bool SameMethod(nint a, nint b) =>
        (*(ushort*)a & TokenRemainderMask) == (*(ushort*)b & TokenRemainderMask)
        && *(ushort*)(a + SlotOffset) == *(ushort*)(b + SlotOffset);
}
