using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

/// <summary>
/// The few libc calls the engine needs (Linux only; the bootstrap refuses other systems). Called
/// through function pointers rather than [DllImport]: the JIT inlines the transition of an
/// unmanaged function-pointer call, while each DllImport costs an IL stub compiled at first use
/// (part of the startup cost), and the JIT hook must not depend on lazily created stubs.
/// </summary>
internal static unsafe class Libc
{
    public const int ProtRead = 1;
    public const int ProtWrite = 2;
    public const int ProtExec = 4;
    public const int MapPrivate = 0x02;
    public const int MapAnonymous = 0x20;
    public const int MapFixedNoReplace = 0x100000;
    public const int PrGetName = 16;
    public static readonly nint MapFailed = -1;

    private static readonly delegate* unmanaged<nint, nint, int, int, int, nint, nint> s_mmap;
    private static readonly delegate* unmanaged<nint, nint, int> s_munmap;
    private static readonly delegate* unmanaged<nint, nint, int, int> s_mprotect;
    private static readonly delegate* unmanaged<nint, DlInfo*, int> s_dladdr;

    static Libc()
    {
        // glibc only (tested); elsewhere (musl, e.g. Alpine) Unavailable says why and the
        // bootstrap refuses before anything is called.
        if (!NativeLibrary.TryLoad("libc.so.6", out nint libc))
        {
            Unavailable = "glibc (libc.so.6) was not found; only glibc-based Linux distributions are supported";
            return;
        }

        string? missing = null;
        s_mmap = (delegate* unmanaged<nint, nint, int, int, int, nint, nint>)Export(libc, "mmap", ref missing);
        s_munmap = (delegate* unmanaged<nint, nint, int>)Export(libc, "munmap", ref missing);
        s_mprotect = (delegate* unmanaged<nint, nint, int, int>)Export(libc, "mprotect", ref missing);
        s_dladdr = (delegate* unmanaged<nint, DlInfo*, int>)Export(libc, "dladdr", ref missing);
        Prctl = Export(libc, "prctl", ref missing);
        Abs = Export(libc, "abs", ref missing);
        PthreadSelf = Export(libc, "pthread_self", ref missing);
        Unavailable = missing;
    }

    /// <summary>Null when every function was found, else why not.</summary>
    public static readonly string? Unavailable;

    /// <summary>The address of <c>prctl</c> (called by the JIT hook through its own pointer). A field: no accessor to JIT.</summary>
    public static readonly nint Prctl;

    /// <summary>The address of <c>abs</c> (the JIT hook's stand-in compiler while it warms up).</summary>
    public static readonly nint Abs;

    /// <summary>The address of <c>pthread_self</c> (the JIT hook records which threads are compiling).</summary>
    public static readonly nint PthreadSelf;

    public static nint Mmap(nint addr, nint length, int prot, int flags, int fd, nint offset) => s_mmap(addr, length, prot, flags, fd, offset);

    public static int Munmap(nint addr, nint length) => s_munmap(addr, length);

    public static int Mprotect(nint addr, nint length, int prot) => s_mprotect(addr, length, prot);

    private static nint Export(nint library, string name, ref string? missing)
    {
        if (NativeLibrary.TryGetExport(library, name, out nint address))
        {
            return address;
        }

        missing ??= $"libc.so.6 lacks {name}";
        return 0;
    }

    /// <summary>errno of the last failed call on this thread (for messages).</summary>
    public static int LastError => Marshal.GetLastSystemError();

    [StructLayout(LayoutKind.Sequential)]
    private struct DlInfo
    {
        public nint FileName;
        public nint BaseAddress;
        public nint SymbolName;
        public nint SymbolAddress;
    }

    /// <summary>The load address of the shared object that contains <paramref name="address"/>, or 0 for anonymous or runtime-mapped memory.</summary>
    public static nint ModuleBase(nint address)
    {
        DlInfo info;
        return s_dladdr(address, &info) == 0 || info.FileName == 0 ? 0 : info.BaseAddress;
    }

    /// <summary>The protection of the mapping that holds <paramref name="address"/> (from /proc/self/maps), or -1.</summary>
    public static int ProtectionOf(nint address)
    {
        var maps = new MapsReader();
        while (maps.Next(out long start, out long end, out int protection))
        {
            if ((long)address >= start && (long)address < end)
            {
                return protection;
            }
        }

        return -1;
    }

    /// <summary>
    /// The mappings of this process at one moment, for answering several protection queries with
    /// one read of /proc/self/maps: the kernel builds that text anew on every read, under the lock
    /// the runtime's own mapping changes take (W^X), and attributing one patch's entries asked 64 times.
    /// </summary>
    public sealed class MemoryMap
    {
        // Plain arrays: no generic collection over a value type (see CodeRedirection).
        private long[] _starts = new long[256];
        private long[] _ends = new long[256];
        private int[] _protections = new int[256];
        private int _count;

        public static MemoryMap Read()
        {
            var map = new MemoryMap();
            var maps = new MapsReader();
            while (maps.Next(out long start, out long end, out int protection))
            {
                map.Add(start, end, protection);
            }

            return map;
        }

        /// <summary>The protection of the mapping that holds <paramref name="address"/>, or -1.</summary>
        public int ProtectionOf(nint address)
        {
            // /proc/self/maps lists mappings in ascending, non-overlapping order.
            int lo = 0;
            int hi = _count - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if ((long)address < _starts[mid])
                {
                    hi = mid - 1;
                }
                else if ((long)address >= _ends[mid])
                {
                    lo = mid + 1;
                }
                else
                {
                    return _protections[mid];
                }
            }

            return -1;
        }

        private void Add(long start, long end, int protection)
        {
            if (_count == _starts.Length)
            {
                Array.Resize(ref _starts, _count * 2);
                Array.Resize(ref _ends, _count * 2);
                Array.Resize(ref _protections, _count * 2);
            }

            _starts[_count] = start;
            _ends[_count] = end;
            _protections[_count] = protection;
            _count++;
        }
    }

    /// <summary>
    /// The mappings of this process in ascending address order, read from /proc/self/maps in one
    /// read (lines look like <c>7f5c3c000000-7f5c3c021000 rw-p 00000000 00:00 0 ...</c>).
    /// </summary>
    public struct MapsReader
    {
        private byte[]? _text;
        private int _position;

        public bool Next(out long start, out long end, out int protection)
        {
            _text ??= File.ReadAllBytes("/proc/self/maps");
            start = end = 0;
            protection = 0;
            if (_position >= _text.Length)
            {
                return false;
            }

            start = ParseHex();
            _position++; // '-'
            end = ParseHex();
            _position++; // ' '
            if (_position + 3 <= _text.Length)
            {
                protection = (_text[_position] == 'r' ? ProtRead : 0) | (_text[_position + 1] == 'w' ? ProtWrite : 0) | (_text[_position + 2] == 'x' ? ProtExec : 0);
            }

            while (_position < _text.Length && _text[_position] != '\n')
            {
                _position++;
            }

            _position++;
            return true;
        }

        private long ParseHex()
        {
            long value = 0;
            while (_position < _text!.Length)
            {
                int c = _text[_position];
                int digit = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : -1;
                if (digit < 0)
                {
                    break;
                }

                value = (value << 4) | (long)digit;
                _position++;
            }

            return value;
        }
    }

    public static bool MakeWritable(nint address, int length)
    {
        nint page = address & ~(nint)0xFFF;
        nint end = (address + length + 0xFFF) & ~(nint)0xFFF;
        return Mprotect(page, end - page, ProtRead | ProtWrite) == 0;
    }
}
