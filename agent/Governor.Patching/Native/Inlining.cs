using System.Reflection;
using System.Runtime.CompilerServices;

namespace Governor.Patching.Native;

/// <summary>
/// Stops the JIT from inlining a target into callers compiled from now on (including guarded
/// devirtualization at tier1), by setting the runtime's "not inline" bit of the MethodDesc
/// (<c>m_wFlags</c> at offset 6, bit 0x2000). The layout is internal, so it is verified first: the
/// bit must be set on a [MethodImpl(NoInlining)] method and clear on an ordinary one.
/// Code already compiled with the target inlined keeps its copy (see docs/design.md (patch engine)).
/// </summary>
internal static unsafe class Inlining
{
    private const int FlagsOffset = 6;
    private const ushort NotInline = 0x2000;

    public static bool IsSupported { get; } = Verify();

    /// <param name="method">A MethodDesc (a method handle's value).</param>
    public static bool Disable(nint method)
    {
        if (!IsSupported)
        {
            return false;
        }

        // The runtime updates these flags with a compare-exchange on the aligned 32-bit word.
        int* word = (int*)(method + FlagsOffset - 2);
        int bit = NotInline << 16;
        int current = Volatile.Read(ref *word);
        while ((current & bit) == 0)
        {
            int seen = Interlocked.CompareExchange(ref *word, current | bit, current);
            if (seen == current)
            {
                break;
            }

            current = seen;
        }

        return true;
    }

    private static bool Verify()
    {
        var notInlined = typeof(Inlining).GetMethod(nameof(Probe), BindingFlags.NonPublic | BindingFlags.Static)!;
        var ordinary = typeof(Inlining).GetMethod(nameof(Verify), BindingFlags.NonPublic | BindingFlags.Static)!;
        return (Flags(notInlined) & NotInline) != 0 && (Flags(ordinary) & NotInline) == 0;
    }

    private static ushort Flags(MethodBase method) => *(ushort*)(method.MethodHandle.Value + FlagsOffset);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Probe()
    {
    }
}
