using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

internal enum CodeKind
{
    /// <summary>No code yet: the entry point leads to the runtime's prestub.</summary>
    NotCompiled,

    /// <summary>Native code (JIT-compiled or ReadyToRun).</summary>
    Code,
}

/// <summary>
/// Finds the code a method's entry point currently leads to by following the runtime's stubs
/// (precodes, call-counting stubs, plain jumps; see <see cref="X64.TryFollowStub"/>).
/// </summary>
internal static unsafe class CodeResolver
{
    /// <summary>Base address of libcoreclr as dladdr reports it (0 if unknown): its code is the prestub and other runtime helpers.</summary>
    private static readonly nint s_coreclrBase = FindCoreClr();

    /// <summary>Follows the stubs from <paramref name="entry"/>; <paramref name="address"/> is where they end (the code, or the prestub).</summary>
    public static CodeKind Resolve(nint entry, out nint address)
    {
        address = entry;
        for (int hop = 0; hop < 16; hop++)
        {
            if (IsRuntimeNative(address))
            {
                return CodeKind.NotCompiled;
            }

            if (!X64.TryFollowStub(address, out nint next))
            {
                return CodeKind.Code;
            }

            address = next;
        }

        throw new PatchException($"Could not follow the stubs from entry point 0x{entry:X}.");
    }

    private static bool IsRuntimeNative(nint address) => s_coreclrBase != 0 && Libc.ModuleBase(address) == s_coreclrBase;

    private static nint FindCoreClr()
    {
        string path = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libcoreclr.so");
        if (!NativeLibrary.TryLoad(path, out nint handle))
        {
            return 0;
        }

        return NativeLibrary.TryGetExport(handle, "coreclr_initialize", out nint export) ? Libc.ModuleBase(export) : 0;
    }
}
