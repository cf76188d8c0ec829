namespace Governor.Patching.Native;

/// <summary>
/// Executable memory for jump stubs and trampolines, within ±1 GiB of the code they serve (a
/// <c>jmp rel32</c> must reach them). Pages are mapped read-write-execute because several stubs
/// share a page and a page must stay executable while another stub is written into it. Never
/// unmapped.
/// </summary>
internal static unsafe class CodeMemory
{
    private const int PageSize = 4096;
    private static readonly object _lock = new();
    private static readonly List<(nint Base, int Used)> s_trampolinePages = new();

    /// <summary>Allocates <paramref name="length"/> executable bytes within ±1 GiB of <paramref name="near"/>.</summary>
    public static nint AllocateNear(nint near, int length)
    {
        lock (_lock)
        {
            for (int i = 0; i < s_trampolinePages.Count; i++)
            {
                var (pageBase, used) = s_trampolinePages[i];
                if (used + length <= PageSize && Math.Abs((long)pageBase - near) < (1L << 30))
                {
                    s_trampolinePages[i] = (pageBase, Align(used + length));
                    return pageBase + used;
                }
            }

            // Probe page-aligned addresses stepping away from `near` until one is free.
            nint origin = near & ~(nint)0xFFFF;
            for (long step = 1; step < 16384; step++)
            {
                long offset = (step / 2) * 0x10000L * ((step & 1) == 0 ? 1 : -1);
                nint page = (nint)(origin + offset);
                if (page <= 0 || !MapFixed(page))
                {
                    continue;
                }

                s_trampolinePages.Add((page, Align(length)));
                return page;
            }

            throw new PatchException("No free memory within 1 GiB of the target's code for a trampoline.");
        }
    }

    private static int Align(int value) => (value + 15) & ~15;

    private static bool MapFixed(nint page)
    {
        nint result = Libc.Mmap(page, PageSize, Libc.ProtRead | Libc.ProtWrite | Libc.ProtExec, Libc.MapPrivate | Libc.MapAnonymous | Libc.MapFixedNoReplace, -1, 0);
        if (result == Libc.MapFailed)
        {
            return false;
        }

        if (result != page)
        {
            // A kernel that ignores MAP_FIXED_NOREPLACE treats the address as a hint.
            _ = Libc.Munmap(result, PageSize);
            return false;
        }

        return true;
    }
}
