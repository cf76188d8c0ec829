using Iced.Intel;

namespace Governor.Patching.Native;

/// <summary>
/// Redirects code that is already published and may be running on other threads.
/// <para>
/// Overwriting the first bytes of a method races with a thread that has executed the first
/// instruction but not the next: it would resume in the middle of the new bytes. So the jump is
/// written over one whole instruction of the prolog that is at least five bytes long, with one
/// locked 8-byte compare-exchange inside a cache line (atomic on x64 at any alignment): every thread is either before that instruction (takes the jump)
/// or past it (sees the original bytes). The prolog is straight-line code and never a branch
/// target. The jump goes to a stub that undoes the prolog instructions executed before it
/// (<c>pop</c> for <c>push</c>, <c>add rsp</c> for <c>sub rsp</c>) and then jumps to the target's
/// entry method. The callable original is a trampoline: the prolog up to and including the
/// replaced instruction, relocated with Iced, then a jump back to the rest of the code. Code
/// whose prolog offers no such instruction (frameless leaf code) is refused.
/// </para>
/// </summary>
internal static unsafe class HotPatcher
{
    private const int MaxPrologInstructions = 12;
    private static readonly object _lock = new();
    private static readonly Dictionary<nint, Site> s_patched = new();

    /// <summary>
    /// Redirects <paramref name="code"/> to <paramref name="destination"/>. <paramref name="publishOriginal"/>
    /// receives the trampoline to the original before the jump is written.
    /// </summary>
    public static void Redirect(nint code, nint destination, Action<nint> publishOriginal)
    {
        lock (_lock)
        {
            if (!s_patched.TryGetValue(code, out var site))
            {
                site = Prepare(code);
                s_patched[code] = site;
            }

            publishOriginal(site.Trampoline);
            *(long*)(site.Stub + site.DestinationOffset) = destination;
            Swap(site.Word, site.Original, site.Patched);
        }
    }

    /// <summary>Restores code redirected by <see cref="Redirect"/>.</summary>
    public static void Restore(nint code)
    {
        lock (_lock)
        {
            if (s_patched.TryGetValue(code, out var site))
            {
                Swap(site.Word, site.Patched, site.Original);
            }
        }
    }

    /// <summary>True when <paramref name="code"/> currently jumps to one of our stubs.</summary>
    public static bool IsRedirected(nint code)
    {
        lock (_lock)
        {
            return s_patched.TryGetValue(code, out var site) && *(long*)site.Word == site.Patched;
        }
    }

    private static Site Prepare(nint code)
    {
        var decoder = CodeResolver.CreateDecoder(code);
        var prolog = new List<Instruction>();
        bool framePointerSaved = false;
        for (int i = 0; i < MaxPrologInstructions; i++)
        {
            var instruction = decoder.Decode();
            if (!IsPrologInstruction(instruction, ref framePointerSaved))
            {
                break;
            }

            prolog.Add(instruction);
            if (instruction.Length >= 5 && Window(code, (nint)instruction.IP) is { } word)
            {
                return Build(code, prolog, word);
            }
        }

        throw new PatchException($"its running code at 0x{code:X} has no prolog instruction that can be replaced atomically (frameless code?), so it cannot be redirected safely while it runs");
    }

    /// <summary>An 8-byte window inside the method and inside one cache line that covers the 5 bytes at <paramref name="at"/>.</summary>
    private static nint? Window(nint code, nint at)
    {
        for (nint word = at; word >= at - 3 && word >= code; word--)
        {
            if ((word & 63) <= 56)
            {
                return word;
            }
        }

        return null;
    }

    private static Site Build(nint code, List<Instruction> prolog, nint word)
    {
        var site = prolog[^1];
        nint at = (nint)site.IP;

        // Stub: undo what ran before the site, then jump to the destination (filled in per redirect).
        var undo = new List<Instruction>();
        for (int i = prolog.Count - 2; i >= 0; i--)
        {
            var executed = prolog[i];
            if (executed.Mnemonic == Mnemonic.Push)
            {
                undo.Add(Instruction.Create(Code.Pop_r64, executed.Op0Register));
            }
            else if (executed.Mnemonic == Mnemonic.Sub)
            {
                undo.Add(Instruction.Create(Code.Add_rm64_imm32, Register.RSP, (int)executed.GetImmediate(1)));
            }
        }

        nint stub = CodeMemory.AllocateNear(code, 128);
        int destinationOffset = Emit(stub, undo, jumpTo: 0, out _);
        long displacement = (long)stub - (at + 5);
        if (displacement is < int.MinValue or > int.MaxValue)
        {
            throw new PatchException($"no stub memory within ±2 GiB of 0x{at:X}");
        }

        nint trampoline = CodeMemory.AllocateNear(code, 128);
        _ = Emit(trampoline, prolog, at + site.Length, out _);

        long original = *(long*)word;
        long patched = original;
        var bytes = (byte*)&patched;
        int offset = (int)(at - word);
        bytes[offset] = 0xE9;
        *(int*)(bytes + offset + 1) = (int)displacement;
        return new Site(word, original, patched, stub, destinationOffset, trampoline);
    }

    /// <summary>Writes the instructions relocated to <paramref name="at"/>, then <c>jmp qword ptr [rip+0]</c> and the absolute target; returns the target's offset.</summary>
    private static int Emit(nint at, List<Instruction> instructions, nint jumpTo, out int length)
    {
        var writer = new BufferWriter();
        if (instructions.Count > 0)
        {
            var block = new InstructionBlock(writer, instructions, (ulong)at);
            if (!BlockEncoder.TryEncode(64, block, out string? error, out _))
            {
                throw new PatchException($"cannot relocate the prolog: {error}");
            }
        }

        var bytes = writer.Bytes;
        bytes.AddRange(new byte[] { 0xFF, 0x25, 0, 0, 0, 0 });
        int destinationOffset = bytes.Count;
        bytes.AddRange(BitConverter.GetBytes((long)jumpTo));
        for (int i = 0; i < bytes.Count; i++)
        {
            ((byte*)at)[i] = bytes[i];
        }

        length = bytes.Count;
        return destinationOffset;
    }

    /// <summary>Straight-line prolog instructions whose effect the stub can undo or need not undo.</summary>
    private static bool IsPrologInstruction(in Instruction instruction, ref bool framePointerSaved)
    {
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Push when instruction.Op0Kind == OpKind.Register:
                framePointerSaved |= instruction.Op0Register == Register.RBP;
                return true;
            case Mnemonic.Sub:
                return instruction.Op0Register == Register.RSP && instruction.Op1Kind is OpKind.Immediate8to64 or OpKind.Immediate32to64;
            case Mnemonic.Lea:
                // Sets the frame pointer; the stub's `pop rbp` restores it.
                return framePointerSaved && instruction.Op0Register == Register.RBP && instruction.MemoryBase == Register.RSP;
            case Mnemonic.Mov when instruction.Op0Register == Register.RBP && instruction.Op1Register == Register.RSP:
                return framePointerSaved;
            default:
                return false;
        }
    }

    /// <summary>One atomic 8-byte store into code (locked, within a cache line), then serialize every core so no thread keeps executing the old bytes.</summary>
    private static void Swap(nint word, long expected, long value)
    {
        int protection = Libc.ProtectionOf(word);
        bool toggle = protection >= 0 && (protection & Libc.ProtWrite) == 0;
        if (toggle && Libc.Mprotect(word & ~(nint)0xFFF, 0x1000, protection | Libc.ProtWrite) != 0)
        {
            throw new PatchException($"mprotect failed on code at 0x{word:X}");
        }

        try
        {
            long seen = Interlocked.CompareExchange(ref *(long*)word, value, expected);
            if (seen != expected && seen != value)
            {
                throw new PatchException($"the code at 0x{word:X} changed under the patch");
            }
        }
        finally
        {
            if (toggle)
            {
                _ = Libc.Mprotect(word & ~(nint)0xFFF, 0x1000, protection);
            }
        }

        Interlocked.MemoryBarrierProcessWide();
    }

    private sealed record Site(nint Word, long Original, long Patched, nint Stub, int DestinationOffset, nint Trampoline);

    private sealed class BufferWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();

        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
