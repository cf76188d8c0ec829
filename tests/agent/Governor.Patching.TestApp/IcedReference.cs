using Governor.Patching.Native;
using Iced.Intel;

namespace Governor.Patching.TestApp;

/// <summary>
/// Reference decoding with Iced (a general x86 decoder), to cross-check the engine's exact-encoding
/// matchers (<see cref="X64"/>) on real code of the running runtime.
/// </summary>
internal static unsafe class IcedReference
{
    /// <summary>Follows the runtime's stubs as the engine once did with Iced; returns where they end.</summary>
    public static nint Resolve(nint entry)
    {
        nint address = entry;
        for (int hop = 0; hop < 16; hop++)
        {
            var decoder = Decoder.Create(64, new Reader(address), (ulong)address);
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

            if (first.Mnemonic == Mnemonic.Mov && first.Op0Register == Register.R10)
            {
                var second = decoder.Decode();
                if (IsJumpThroughRipSlot(second))
                {
                    address = *(nint*)second.IPRelativeMemoryAddress;
                    continue;
                }
            }

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

            return address;
        }

        return 0;
    }

    /// <summary>The prolog instructions (kind, length) a hot patcher may undo, as Iced decodes them; stops at the first other instruction.</summary>
    public static List<(PrologKind Kind, int Length, int Register, int Immediate)> Prolog(nint code, int max)
    {
        var result = new List<(PrologKind, int, int, int)>();
        var decoder = Decoder.Create(64, new Reader(code), (ulong)code);
        bool framePointerSaved = false;
        for (int i = 0; i < max; i++)
        {
            var instruction = decoder.Decode();
            switch (instruction.Mnemonic)
            {
                case Mnemonic.Push when instruction.Op0Kind == OpKind.Register:
                    framePointerSaved |= instruction.Op0Register == Register.RBP;
                    result.Add((PrologKind.Push, instruction.Length, instruction.Op0Register.GetFullRegister().GetNumber(), 0));
                    continue;
                case Mnemonic.Sub when instruction.Op0Register == Register.RSP && instruction.Op1Kind is OpKind.Immediate8to64 or OpKind.Immediate32to64:
                    result.Add((PrologKind.SubRsp, instruction.Length, 0, (int)instruction.GetImmediate(1)));
                    continue;
                case Mnemonic.Lea when framePointerSaved && instruction.Op0Register == Register.RBP && instruction.MemoryBase == Register.RSP && instruction.MemoryIndex == Register.None:
                case Mnemonic.Mov when framePointerSaved && instruction.Op0Register == Register.RBP && instruction.Op1Register == Register.RSP:
                    result.Add((PrologKind.SetFramePointer, instruction.Length, 5, 0));
                    continue;
            }

            break;
        }

        return result;
    }

    private static bool IsJumpThroughRipSlot(in Instruction instruction) =>
        instruction.Mnemonic == Mnemonic.Jmp && instruction.Op0Kind == OpKind.Memory && instruction.IsIPRelativeMemoryOperand;

    private sealed class Reader : CodeReader
    {
        private byte* _next;

        public Reader(nint address) => _next = (byte*)address;

        public override int ReadByte() => *_next++;
    }
}
