using System.Runtime.InteropServices;
using Iced.Intel;

namespace Governor.Patching.Native;

internal enum CodeKind
{
    /// <summary>No code yet: the entry point leads to the runtime's prestub.</summary>
    NotCompiled,

    /// <summary>Native code (JIT-compiled or ReadyToRun).</summary>
    Code,
}

/// <summary>
/// Finds the code a method's entry point currently leads to by following the runtime's stubs:
/// precodes (<c>jmp [rip+x]</c>, <c>mov r10, ...; jmp [rip+x]</c>), call-counting stubs
/// (<c>mov rax, [rip+x]; dec word ptr [rax]; je ...; jmp [rip+y]</c>) and plain jumps.
/// </summary>
internal static unsafe class CodeResolver
{
    private static readonly string? s_coreclrPath = FindCoreClr();

    public static (CodeKind Kind, nint Address) Resolve(nint entry)
    {
        nint address = entry;
        for (int hop = 0; hop < 16; hop++)
        {
            if (IsRuntimeNative(address))
            {
                return (CodeKind.NotCompiled, address);
            }

            var decoder = CreateDecoder(address);
            var first = decoder.Decode();
            if (first.Mnemonic == Mnemonic.Jmp && first.Op0Kind == OpKind.NearBranch64)
            {
                address = (nint)first.NearBranch64;
                continue;
            }

            if (IsJumpThroughRipSlot(first))
            {
                address = *(nint*)first.IPRelativeMemoryAddress;
                continue;
            }

            // Stub precode / second half of a fixup precode: mov r10, <MethodDesc>; jmp [rip+target].
            if (first.Mnemonic == Mnemonic.Mov && first.Op0Register == Register.R10)
            {
                var second = decoder.Decode();
                if (IsJumpThroughRipSlot(second))
                {
                    address = *(nint*)second.IPRelativeMemoryAddress;
                    continue;
                }
            }

            // Call-counting stub: the instruction after `je` jumps to the counted code.
            if (first.Mnemonic == Mnemonic.Mov && first.Op0Register == Register.RAX && first.IsIPRelativeMemoryOperand
                && decoder.Decode().Mnemonic == Mnemonic.Dec && decoder.Decode().Mnemonic == Mnemonic.Je)
            {
                var fourth = decoder.Decode();
                if (IsJumpThroughRipSlot(fourth))
                {
                    address = *(nint*)fourth.IPRelativeMemoryAddress;
                    continue;
                }
            }

            return (CodeKind.Code, address);
        }

        throw new PatchException($"Could not follow the stubs from entry point 0x{entry:X}.");
    }

    /// <summary>A decoder reading live memory one byte at a time (never past the instructions decoded).</summary>
    public static Iced.Intel.Decoder CreateDecoder(nint address) => Iced.Intel.Decoder.Create(64, new MemoryCodeReader(address), (ulong)address);

    private static bool IsJumpThroughRipSlot(in Instruction instruction) =>
        instruction.Mnemonic == Mnemonic.Jmp && instruction.Op0Kind == OpKind.Memory && instruction.IsIPRelativeMemoryOperand;

    /// <summary>True for addresses inside libcoreclr (the prestub and other runtime helpers).</summary>
    private static bool IsRuntimeNative(nint address) => s_coreclrPath is not null && Libc.ModuleOf(address) == s_coreclrPath;

    private static string? FindCoreClr()
    {
        string path = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libcoreclr.so");
        if (!NativeLibrary.TryLoad(path, out nint handle))
        {
            return null;
        }

        return NativeLibrary.TryGetExport(handle, "coreclr_initialize", out nint export) ? Libc.ModuleOf(export) : null;
    }
}

internal sealed unsafe class MemoryCodeReader : CodeReader
{
    private byte* _next;

    public MemoryCodeReader(nint address) => _next = (byte*)address;

    public override int ReadByte() => *_next++;
}
