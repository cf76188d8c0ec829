namespace Governor.Patching.Native;

/// <summary>
/// Redirects code that is already published and may be running on other threads.
/// <para>
/// Overwriting the first bytes of a method races with a thread that has executed the first
/// instruction but not the next: it would resume in the middle of the new bytes. So the jump is
/// written over one whole instruction of the prolog that is at least five bytes long, with one
/// locked 8-byte compare-exchange inside a cache line (atomic on x64 at any alignment): every
/// thread is either before that instruction (takes the jump) or past it (sees the original
/// bytes). The prolog is straight-line code and never a branch target. The jump goes to a stub
/// that undoes the prolog instructions executed before it (<c>pop</c> for <c>push</c>,
/// <c>add rsp</c> for <c>sub rsp</c>) and then jumps to the target's entry method. The callable
/// original is a trampoline: the prolog up to and including the replaced instruction, copied
/// (the accepted prolog instructions are position-independent, see <see cref="X64"/>), then a
/// jump back to the rest of the code. Code whose prolog offers no such instruction (frameless
/// leaf code) is refused.
/// </para>
/// </summary>
internal static unsafe class HotPatcher
{
    private const int MaxPrologInstructions = 12;
    private const int Rbp = 5;
    private static readonly object _lock = new();

    // Few sites per process: a list searched linearly (no dictionary keyed by a value type, whose
    // code would be JIT-compiled at startup).
    private static readonly List<Site> s_sites = new();

    /// <summary>
    /// Prepares <paramref name="code"/> for redirection (once per code address; nothing is changed
    /// yet) and returns the trampoline that runs the original code.
    /// </summary>
    /// <exception cref="PatchException">The code has no prolog instruction that can be replaced atomically.</exception>
    public static nint Prepare(nint code)
    {
        lock (_lock)
        {
            return (Find(code) ?? Add(code)).Trampoline;
        }
    }

    /// <summary>Redirects <paramref name="code"/> (prepared by <see cref="Prepare"/>) to <paramref name="destination"/>.</summary>
    public static void Redirect(nint code, nint destination)
    {
        lock (_lock)
        {
            var site = Find(code) ?? throw new InvalidOperationException("not prepared");
            *(long*)(site.Stub + site.DestinationOffset) = destination;
            Swap(site, site.Original, site.Patched);
        }
    }

    /// <summary>Restores code redirected by <see cref="Redirect"/> (nothing happens if it is not redirected).</summary>
    public static void Restore(nint code)
    {
        lock (_lock)
        {
            if (Find(code) is { } site)
            {
                Swap(site, site.Patched, site.Original);
            }
        }
    }

    /// <summary>True when <paramref name="code"/> currently jumps to one of our stubs.</summary>
    public static bool IsRedirected(nint code)
    {
        lock (_lock)
        {
            return Find(code) is { } site && *(long*)site.Word == site.Patched;
        }
    }

    private static Site? Find(nint code)
    {
        foreach (var site in s_sites)
        {
            if (site.Code == code)
            {
                return site;
            }
        }

        return null;
    }

    private static Site Add(nint code)
    {
        var prolog = new PrologInstruction[MaxPrologInstructions];
        bool framePointerSaved = false;
        nint at = code;
        for (int i = 0; i < MaxPrologInstructions; i++)
        {
            if (!X64.TryDecodeProlog(at, framePointerSaved, out var instruction))
            {
                break;
            }

            framePointerSaved |= instruction.Kind == PrologKind.Push && instruction.Register == Rbp;
            prolog[i] = instruction;
            nint word = instruction.Length >= 5 ? Window(code, at) : 0;
            if (word != 0)
            {
                var site = Build(code, prolog, i + 1, at, word);
                s_sites.Add(site);
                return site;
            }

            at += instruction.Length;
        }

        throw new PatchException($"its running code at 0x{code:X} has no prolog instruction that can be replaced atomically (frameless code?), so it cannot be redirected safely while it runs");
    }

    /// <summary>An 8-byte window inside the method and inside one cache line that covers the 5 bytes at <paramref name="at"/>, or 0.</summary>
    private static nint Window(nint code, nint at)
    {
        for (nint word = at; word >= at - 3 && word >= code; word--)
        {
            if ((word & 63) <= 56)
            {
                return word;
            }
        }

        return 0;
    }

    /// <param name="code">Start of the method's code.</param>
    /// <param name="prolog">The prolog instructions from <paramref name="code"/>; the last of the first <paramref name="count"/> is at <paramref name="at"/> and is replaced by the jump.</param>
    /// <param name="count">How many entries of <paramref name="prolog"/> are used.</param>
    /// <param name="at">Address of the replaced instruction.</param>
    /// <param name="word">The 8-byte window written atomically.</param>
    private static Site Build(nint code, PrologInstruction[] prolog, int count, nint at, nint word)
    {
        // Stub: undo what ran before the site (in reverse), then jump to the destination (filled in per redirect).
        nint stub = CodeMemory.AllocateNear(code, 128);
        byte* cursor = (byte*)stub;
        for (int i = count - 2; i >= 0; i--)
        {
            if (prolog[i].Kind == PrologKind.Push)
            {
                cursor += X64.WritePop(cursor, prolog[i].Register);
            }
            else if (prolog[i].Kind == PrologKind.SubRsp)
            {
                cursor += X64.WriteAddRsp(cursor, prolog[i].Immediate);
            }
        }

        int destinationOffset = (int)(cursor - (byte*)stub) + X64.WriteAbsoluteJump(cursor, 0);
        long displacement = (long)stub - (at + 5);
        if (displacement is < int.MinValue or > int.MaxValue)
        {
            throw new PatchException($"no stub memory within ±2 GiB of 0x{at:X}");
        }

        // Trampoline (the callable original): the prolog up to and including the site, copied,
        // then a jump to the instruction after it.
        int prologLength = (int)(at - code) + prolog[count - 1].Length;
        nint trampoline = CodeMemory.AllocateNear(code, prologLength + X64.AbsoluteJumpLength);
        Buffer.MemoryCopy((void*)code, (void*)trampoline, prologLength, prologLength);
        _ = X64.WriteAbsoluteJump((byte*)trampoline + prologLength, code + prologLength);

        long original = *(long*)word;
        long patched = original;
        var bytes = (byte*)&patched;
        int offset = (int)(at - word);
        bytes[offset] = 0xE9;
        *(int*)(bytes + offset + 1) = (int)displacement;

        // Code pages keep their protection for the process lifetime (the runtime writes code
        // through separate writable mappings), so it is read once, here.
        return new Site(code, word, original, patched, stub, destinationOffset, trampoline, Libc.ProtectionOf(word));
    }

    /// <summary>One atomic 8-byte store into code (locked, within a cache line), then serialize every core so no thread keeps executing the old bytes.</summary>
    private static void Swap(Site site, long expected, long value)
    {
        nint page = site.Word & ~(nint)0xFFF;
        bool toggle = site.Protection >= 0 && (site.Protection & Libc.ProtWrite) == 0;
        if (toggle && Libc.Mprotect(page, 0x1000, site.Protection | Libc.ProtWrite) != 0)
        {
            throw new PatchException($"mprotect failed on code at 0x{site.Word:X} (errno {Libc.LastError})");
        }

        try
        {
            long seen = Interlocked.CompareExchange(ref *(long*)site.Word, value, expected);
            if (seen != expected && seen != value)
            {
                throw new PatchException($"the code at 0x{site.Word:X} changed under the patch");
            }
        }
        finally
        {
            if (toggle)
            {
                _ = Libc.Mprotect(page, 0x1000, site.Protection);
            }
        }

        Interlocked.MemoryBarrierProcessWide();
    }

    private sealed class Site
    {
        public readonly nint Code;
        public readonly nint Word;
        public readonly long Original;
        public readonly long Patched;
        public readonly nint Stub;
        public readonly int DestinationOffset;
        public readonly nint Trampoline;
        public readonly int Protection;

        public Site(nint code, nint word, long original, long patched, nint stub, int destinationOffset, nint trampoline, int protection)
        {
            Code = code;
            Word = word;
            Original = original;
            Patched = patched;
            Stub = stub;
            DestinationOffset = destinationOffset;
            Trampoline = trampoline;
            Protection = protection;
        }
    }
}
