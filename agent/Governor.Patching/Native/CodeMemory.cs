namespace Governor.Patching.Native;

/// <summary>
/// Executable memory for jump stubs and trampolines, within reach of a <c>jmp rel32</c> from the
/// code they serve. Pages are mapped read-write-execute because several stubs share a page and a
/// page must stay executable while another stub is written into it. Never unmapped.
/// <para>
/// Free address space near JIT-compiled code is scarce: the runtime reserves about 2 GiB next to
/// libcoreclr for its code heaps and the GC reserves far more, so the nearest free page can be
/// well over 1 GiB away (measured: 6 MiB in one run, none within ±512 MiB in another). Free
/// ranges are therefore read from /proc/self/maps and the closest page is mapped there.
/// </para>
/// </summary>
internal static unsafe class CodeMemory
{
    private const int PageSize = 4096;

    /// <summary>How far a stub may be from the code that jumps to it (rel32, with room for the page itself).</summary>
    private const long Reach = int.MaxValue - (2 * PageSize);

    private static readonly object _lock = new();

    // Pages handed out so far (few): plain arrays, no generic collection over a value type whose
    // code would be JIT-compiled at startup.
    private static nint[] s_pageBases = new nint[8];
    private static int[] s_pageUsed = new int[8];
    private static int s_pageCount;

    /// <summary>Allocates <paramref name="length"/> executable bytes within ±2 GiB of <paramref name="near"/>.</summary>
    public static nint AllocateNear(nint near, int length)
    {
        lock (_lock)
        {
            for (int i = 0; i < s_pageCount; i++)
            {
                int used = s_pageUsed[i];
                if (used + length <= PageSize && Math.Abs((long)s_pageBases[i] - near) < Reach)
                {
                    s_pageUsed[i] = Align(used + length);
                    return s_pageBases[i] + used;
                }
            }

            // Another thread (or the runtime) may map the chosen page first: read the map again.
            for (int attempt = 0; attempt < 3; attempt++)
            {
                nint page = ClosestFreePage(near);
                if (page == 0)
                {
                    break;
                }

                if (MapFixed(page))
                {
                    if (s_pageCount == s_pageBases.Length)
                    {
                        Array.Resize(ref s_pageBases, s_pageCount * 2);
                        Array.Resize(ref s_pageUsed, s_pageCount * 2);
                    }

                    s_pageBases[s_pageCount] = page;
                    s_pageUsed[s_pageCount] = Align(length);
                    s_pageCount++;
                    return page;
                }
            }

            throw new PatchException($"no free memory within 2 GiB of the code at 0x{near:X} for a jump stub");
        }
    }

    private static int Align(int value) => (value + 15) & ~15;

    /// <summary>The free page closest to <paramref name="near"/> within <see cref="Reach"/>, or 0.</summary>
    private static nint ClosestFreePage(nint near)
    {
        long best = 0;
        long bestDistance = Reach;
        long previousEnd = 0x10000; // Never below the usual mmap_min_addr.
        var maps = new Libc.MapsReader();
        while (true)
        {
            bool more = maps.Next(out long start, out long end, out _);
            long gapStart = previousEnd;
            long gapEnd = more ? start : 0x7FFF_FFFF_F000;
            if (gapEnd - gapStart >= PageSize)
            {
                long candidate = near < gapStart ? gapStart : near >= gapEnd ? gapEnd - PageSize : near & ~(long)(PageSize - 1);
                long distance = Math.Abs(candidate - near);
                if (distance < bestDistance)
                {
                    best = candidate;
                    bestDistance = distance;
                }
            }

            if (!more)
            {
                return (nint)best;
            }

            previousEnd = Math.Max(previousEnd, end);
        }
    }

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
