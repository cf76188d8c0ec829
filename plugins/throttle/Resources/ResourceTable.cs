namespace Governor.Plugins.Throttle.Resources;

/// <summary>
/// An immutable, case-insensitive map from resource keys to values that is searched with a
/// span, so the request path is looked up as it is, without building a string. (The plugin
/// targets net8.0, which has no alternate lookup on <see cref="Dictionary{TKey, TValue}"/>.)
/// Open addressing with linear probing at a load of at most one half; the hash is the
/// runtime's randomized ordinal-ignore-case hash, so request paths chosen by an attacker
/// cannot aim at long probe chains. Most requests are for paths without rules; a mask of the
/// key lengths turns most of those lookups into one bit test.
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

    private static int Hash(ReadOnlySpan<char> key) => string.GetHashCode(key, StringComparison.OrdinalIgnoreCase);
}
