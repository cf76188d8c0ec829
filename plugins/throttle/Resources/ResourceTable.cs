using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Governor.Plugins.Throttle.Resources;

/// <summary>
/// An immutable, case-insensitive map from resource keys to values that is searched with a
/// span, so the request path is looked up as it is, without building a string. (The plugin
/// targets net8.0, which has no alternate lookup on <see cref="Dictionary{TKey, TValue}"/>.)
/// Open addressing with linear probing at a load of at most one half, so a probe (whatever path
/// a request brings) ends within the longest cluster of the fixed keys. Most requests are for
/// paths without rules; a mask of the key lengths turns most of those lookups into one bit test.
/// </summary>
internal sealed class ResourceTable<T>
    where T : class
{
    public static readonly ResourceTable<T> Empty = new(Array.Empty<KeyValuePair<string, T>>());

    private readonly string?[] _keys;
    private readonly int[] _hashes;
    private readonly T?[] _values;
    private readonly int _mask;

    // Bit n set when a key of length n exists (bit 63: length 63 or more). Ignoring case never
    // changes a length, so a request path of another length is known to miss without hashing it.
    private readonly ulong _lengths;

    public ResourceTable(IReadOnlyCollection<KeyValuePair<string, T>> entries)
    {
        int capacity = 4;
        while (capacity < entries.Count * 2)
        {
            capacity *= 2;
        }

        _keys = new string?[capacity];
        _hashes = new int[capacity];
        _values = new T?[capacity];
        _mask = capacity - 1;
        foreach (var entry in entries)
        {
            int hash = Hash(entry.Key);
            int i = hash & _mask;
            while (_keys[i] is { } existing)
            {
                if (_hashes[i] == hash && string.Equals(existing, entry.Key, StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException($"Duplicate resource key '{entry.Key}'.", nameof(entries));
                }

                i = (i + 1) & _mask;
            }

            _lengths |= LengthBit(entry.Key.Length);
            _keys[i] = entry.Key;
            _hashes[i] = hash;
            _values[i] = entry.Value;
            Count++;
        }
    }

    public int Count { get; }

    public T? Find(ReadOnlySpan<char> key)
    {
        if ((_lengths & LengthBit(key.Length)) == 0)
        {
            return null;
        }

        int hash = Hash(key);
        int i = hash & _mask;
        while (_keys[i] is { } candidate)
        {
            if (_hashes[i] == hash && key.Equals(candidate, StringComparison.OrdinalIgnoreCase))
            {
                return _values[i];
            }

            i = (i + 1) & _mask;
        }

        return null;
    }

    private static ulong LengthBit(int length) => 1UL << Math.Min(length, 63);

    /// <summary>
    /// Equal for keys that are equal ignoring case. ASCII keys (nearly every path and host) are
    /// hashed four characters at a time with bit 5 set in each, which maps A-Z onto a-z (and a
    /// few punctuation characters onto others, which only makes harmless collisions). Under
    /// ordinal-ignore-case no non-ASCII character equals an ASCII one, so a key with any non-ASCII
    /// character can never equal an ASCII key and may use another hash: the runtime's.
    /// The ASCII hash is not randomized, which is safe here: keys are fixed by the rules, never
    /// by requests, so a request can only probe the table, not fill it with collisions.
    /// </summary>
    private static int Hash(ReadOnlySpan<char> key)
    {
        const ulong NonAscii = 0xFF80_FF80_FF80_FF80;
        const ulong Fold = 0x0020_0020_0020_0020;
        const ulong Multiplier = 0x9E37_79B9_7F4A_7C15;
        ref byte start = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(key));
        ulong hash = (ulong)key.Length * Multiplier;
        int i = 0;
        for (; i + 4 <= key.Length; i += 4)
        {
            ulong block = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i * sizeof(char)));
            if ((block & NonAscii) != 0)
            {
                return string.GetHashCode(key, StringComparison.OrdinalIgnoreCase);
            }

            hash = BitOperations.RotateLeft((hash ^ (block | Fold)) * Multiplier, 29);
        }

        for (; i < key.Length; i++)
        {
            ulong c = key[i];
            if (c >= 0x80)
            {
                return string.GetHashCode(key, StringComparison.OrdinalIgnoreCase);
            }

            hash = BitOperations.RotateLeft((hash ^ (c | 0x20)) * Multiplier, 29);
        }

        return (int)(hash ^ (hash >> 32));
    }
}
