using System.Runtime.InteropServices;

namespace Governor.Patching.Native;

/// <summary>The few libc calls the engine needs (Linux only; the bootstrap refuses other systems).</summary>
internal static unsafe partial class Libc
{
    public const int ProtRead = 1;
    public const int ProtWrite = 2;
    public const int ProtExec = 4;
    public const int MapPrivate = 0x02;
    public const int MapAnonymous = 0x20;
    public const int MapFixedNoReplace = 0x100000;
    public const int PrGetName = 16;
    public static readonly nint MapFailed = -1;

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static extern nint Mmap(nint addr, nint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static extern int Munmap(nint addr, nint length);

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static extern int Mprotect(nint addr, nint length, int prot);

    [DllImport("libc", EntryPoint = "dladdr")]
    public static extern int Dladdr(nint addr, DlInfo* info);

    [StructLayout(LayoutKind.Sequential)]
    public struct DlInfo
    {
        public nint FileName;
        public nint BaseAddress;
        public nint SymbolName;
        public nint SymbolAddress;
    }

    /// <summary>The shared object that contains <paramref name="address"/>, or null for anonymous or runtime-mapped memory.</summary>
    public static string? ModuleOf(nint address)
    {
        DlInfo info;
        if (Dladdr(address, &info) == 0 || info.FileName == 0)
        {
            return null;
        }

        return Marshal.PtrToStringUTF8(info.FileName);
    }

    /// <summary>The protection of the mapping that holds <paramref name="address"/> (from /proc/self/maps), or -1.</summary>
    public static int ProtectionOf(nint address)
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            ulong start = ulong.Parse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber);
            ulong end = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber);
            if ((ulong)address >= start && (ulong)address < end)
            {
                return (line[space + 1] == 'r' ? ProtRead : 0) | (line[space + 2] == 'w' ? ProtWrite : 0) | (line[space + 3] == 'x' ? ProtExec : 0);
            }
        }

        return -1;
    }

    public static bool MakeWritable(nint address, int length)
    {
        nint page = address & ~(nint)0xFFF;
        nint end = (address + length + 0xFFF) & ~(nint)0xFFF;
        return Mprotect(page, end - page, ProtRead | ProtWrite) == 0;
    }
}
