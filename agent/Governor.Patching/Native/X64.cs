namespace Governor.Patching.Native;

/// <summary>The prolog instructions <see cref="HotPatcher"/> understands.</summary>
internal enum PrologKind
{
    /// <summary><c>push r64</c>: undone by <c>pop</c> of the same register.</summary>
    Push,

    /// <summary><c>sub rsp, imm</c>: undone by <c>add rsp, imm</c>.</summary>
    SubRsp,

    /// <summary><c>lea rbp, [rsp+disp]</c> or <c>mov rbp, rsp</c>: sets the frame pointer; the stub's <c>pop rbp</c> restores it.</summary>
    SetFramePointer,
}

/// <summary>
/// One decoded prolog instruction. <see cref="Register"/> is the x64 register number (0 = rax ...
/// 15 = r15). Plain fields, not properties: every accessor of a struct in an IL-only assembly is
/// one more method to JIT at startup.
/// </summary>
internal readonly struct PrologInstruction
{
    public readonly PrologKind Kind;
    public readonly int Length;
    public readonly int Register;
    public readonly int Immediate;

    public PrologInstruction(PrologKind kind, int length, int register, int immediate)
    {
        Kind = kind;
        Length = length;
        Register = register;
        Immediate = immediate;
    }
}

/// <summary>
/// Exact-encoding x64 matching for the only machine code the engine reads: the runtime's entry
/// stubs and the first instructions of a method's prolog. A general decoder (Iced) is not needed
/// for that, and loading and JIT-compiling one costs about 200 methods (15 ms) at startup. Only
/// the encodings listed here are recognized; anything else is "not a stub" or "not a prolog
/// instruction", which makes the callers stop (never guess). These instructions carry no
/// RIP-relative operand, so relocating them is a byte copy. Tests cross-check both matchers
/// against Iced on real code of .NET 8 and .NET 10.
/// </summary>
internal static unsafe class X64
{
    private const int Rbp = 5;

    /// <summary>
    /// When the code at <paramref name="address"/> is one of the runtime's forwarding stubs,
    /// returns true with the address it forwards to:
    /// <list type="bullet">
    /// <item><c>jmp rel32</c> (E9) and <c>jmp rel8</c> (EB);</item>
    /// <item><c>jmp qword ptr [rip+d32]</c> (FF 25), the first half of a fixup precode;</item>
    /// <item><c>mov r10, qword ptr [rip+d32]</c> or <c>mov r10, imm64</c>, then <c>jmp qword ptr [rip+d32]</c>: a stub precode or the second half of a fixup precode;</item>
    /// <item><c>mov rax, qword ptr [rip+d32]; dec word ptr [rax]; je rel8; jmp qword ptr [rip+d32]</c>: a call-counting stub (forwards to the counted code).</item>
    /// </list>
    /// </summary>
    public static bool TryFollowStub(nint address, out nint target)
    {
        byte* p = (byte*)address;
        switch (p[0])
        {
            case 0xE9:
                target = address + 5 + *(int*)(p + 1);
                return true;
            case 0xEB:
                target = address + 2 + (sbyte)p[1];
                return true;
            case 0xFF when p[1] == 0x25:
                target = RipSlot(p, 6);
                return true;
            case 0x4C when p[1] == 0x8B && p[2] == 0x15 && IsJumpThroughRipSlot(p + 7):
                target = RipSlot(p + 7, 6);
                return true;
            case 0x49 when p[1] == 0xBA && IsJumpThroughRipSlot(p + 10):
                target = RipSlot(p + 10, 6);
                return true;
            case 0x48 when p[1] == 0x8B && p[2] == 0x05 && p[7] == 0x66 && p[8] == 0xFF && p[9] == 0x08 && p[10] == 0x74 && IsJumpThroughRipSlot(p + 12):
                target = RipSlot(p + 12, 6);
                return true;
            default:
                target = 0;
                return false;
        }
    }

    /// <summary>Decodes one prolog instruction the hot patcher can undo or need not undo; false for anything else.</summary>
    /// <param name="framePointerSaved">Whether <c>push rbp</c> was seen: only then may the frame pointer be set (the stub's <c>pop rbp</c> restores it).</param>
    public static bool TryDecodeProlog(nint address, bool framePointerSaved, out PrologInstruction instruction)
    {
        byte* p = (byte*)address;
        instruction = default;
        if (p[0] is >= 0x50 and <= 0x57)
        {
            instruction = new PrologInstruction(PrologKind.Push, 1, p[0] - 0x50, 0);
            return true;
        }

        if (p[0] == 0x41 && p[1] is >= 0x50 and <= 0x57)
        {
            instruction = new PrologInstruction(PrologKind.Push, 2, 8 + p[1] - 0x50, 0);
            return true;
        }

        if (p[0] != 0x48)
        {
            return false;
        }

        switch (p[1])
        {
            case 0x83 when p[2] == 0xEC:
                // sub rsp, imm8 (sign-extended)
                instruction = new PrologInstruction(PrologKind.SubRsp, 4, 0, (sbyte)p[3]);
                return instruction.Immediate > 0;
            case 0x81 when p[2] == 0xEC:
                // sub rsp, imm32
                instruction = new PrologInstruction(PrologKind.SubRsp, 7, 0, *(int*)(p + 3));
                return instruction.Immediate > 0;
            case 0x8D when framePointerSaved && p[3] == 0x24 && p[2] is 0x2C or 0x6C or 0xAC:
                // lea rbp, [rsp], [rsp+disp8], [rsp+disp32] (ModRM reg=rbp, rm=SIB, SIB base=rsp no index)
                instruction = new PrologInstruction(PrologKind.SetFramePointer, p[2] switch { 0x2C => 4, 0x6C => 5, _ => 8 }, Rbp, 0);
                return true;
            case 0x89 when framePointerSaved && p[2] == 0xE5:
            case 0x8B when framePointerSaved && p[2] == 0xEC:
                // mov rbp, rsp (both encodings)
                instruction = new PrologInstruction(PrologKind.SetFramePointer, 3, Rbp, 0);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Writes <c>pop r64</c>; returns its length.</summary>
    public static int WritePop(byte* at, int register)
    {
        if (register < 8)
        {
            at[0] = (byte)(0x58 + register);
            return 1;
        }

        at[0] = 0x41;
        at[1] = (byte)(0x58 + register - 8);
        return 2;
    }

    /// <summary>Writes <c>add rsp, imm32</c>; returns its length.</summary>
    public static int WriteAddRsp(byte* at, int immediate)
    {
        at[0] = 0x48;
        at[1] = 0x81;
        at[2] = 0xC4;
        *(int*)(at + 3) = immediate;
        return 7;
    }

    /// <summary>Writes <c>jmp qword ptr [rip+0]</c> followed by the 8-byte target; returns the offset of the target.</summary>
    public static int WriteAbsoluteJump(byte* at, nint target)
    {
        at[0] = 0xFF;
        at[1] = 0x25;
        *(int*)(at + 2) = 0;
        *(long*)(at + 6) = target;
        return 6;
    }

    /// <summary>Length of <see cref="WriteAbsoluteJump"/>'s output.</summary>
    public const int AbsoluteJumpLength = 14;

    private static bool IsJumpThroughRipSlot(byte* p) => p[0] == 0xFF && p[1] == 0x25;

    /// <summary>The 8-byte slot addressed by an instruction of <paramref name="length"/> bytes ending with a rip-relative disp32.</summary>
    private static nint RipSlot(byte* instruction, int length) => *(nint*)(instruction + length + *(int*)(instruction + length - 4));
}
