using System.Buffers;
using System.Collections.Concurrent;

namespace Governor.Plugins.SqlGuard.Templates;

/// <summary>A value kept in a <see cref="BoundedLruMap{TKey, TValue}"/>: it carries its own recency stamp.</summary>
internal abstract class LruItem
{
    private long _stamp;
    private int _evicted;

    /// <summary>Set when the map dropped this item; holders of a direct reference must look it up again.</summary>
    public bool Evicted => Volatile.Read(ref _evicted) != 0;

    /// <summary>Marks the item as used now (in the map's generation). Writes only when the stamp changes, so that hot items do not bounce a cache line between cores.</summary>
    public void Touch(long generation)
    {
        if (Volatile.Read(ref _stamp) != generation)
        {
            Volatile.Write(ref _stamp, generation);
        }
    }

    internal long Stamp => Volatile.Read(ref _stamp);

    internal void MarkEvicted() => Volatile.Write(ref _evicted, 1);
}

/// <summary>
/// A concurrent map with a bounded number of entries that drops the least recently used ones.
/// Reads never lock and never allocate: recency is a stamp on the item, the map's
/// <see cref="Generation"/>, which advances on every insert — that is the only clock eviction
/// needs, because only inserts make it evict. When an insert takes the count past the
/// capacity, the inserting thread (one at a time; others go on) drops the oldest entries down
/// to 90 % of the capacity, so eviction work is amortized over a tenth of the capacity in
/// inserts. With concurrent inserters the count can pass the capacity by at most the number of
/// threads inserting at that moment.
/// </summary>
internal sealed class BoundedLruMap<TKey, TValue>
    where TKey : notnull
    where TValue : LruItem
{
    private readonly ConcurrentDictionary<TKey, TValue> _map;
    private readonly int _capacity;
    private long _generation;
    private int _count;
    private int _trimming;
    private long _evictions;

    public BoundedLruMap(int capacity, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        _map = new ConcurrentDictionary<TKey, TValue>(comparer);
    }

    public int Capacity => _capacity;

    public int Count => Volatile.Read(ref _count);

    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>The current recency stamp; items touched with it count as used now.</summary>
    public long Generation => Volatile.Read(ref _generation);

    public bool TryGet(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out value!))
        {
            value.Touch(Generation);
            return true;
        }

        return false;
    }

    /// <summary>The value for <paramref name="key"/>, created by <paramref name="factory"/> when missing (the factory may run for a losing racer too).</summary>
    public TValue GetOrAdd<TArg>(TKey key, Func<TKey, TArg, TValue> factory, TArg arg)
    {
        if (TryGet(key, out var existing))
        {
            return existing;
        }

        var created = factory(key, arg);
        created.Touch(Interlocked.Increment(ref _generation));
        var value = _map.GetOrAdd(key, created);
        if (!ReferenceEquals(value, created))
        {
            value.Touch(Generation);
            return value;
        }

        if (Interlocked.Increment(ref _count) > _capacity)
        {
            Trim();
        }

        return value;
    }

    /// <summary>A snapshot of the values (agent threads: status, tests).</summary>
    public List<TValue> Values()
    {
        var list = new List<TValue>(Count);
        foreach (var pair in _map)
        {
            list.Add(pair.Value);
        }

        return list;
    }

    private void Trim()
    {
        if (Interlocked.CompareExchange(ref _trimming, 1, 0) != 0)
        {
            return;
        }

        long[]? stamps = null;
        try
        {
            int target = Math.Max(1, _capacity - Math.Max(1, _capacity / 10));
            int excess = Count - target;
            if (excess <= 0)
            {
                return;
            }

            stamps = ArrayPool<long>.Shared.Rent(Count + 64);
            int n = 0;
            foreach (var pair in _map)
            {
                if (n == stamps.Length)
                {
                    break;
                }

                stamps[n++] = pair.Value.Stamp;
            }

            if (excess > n)
            {
                excess = n;
            }

            Array.Sort(stamps, 0, n);
            long cutoff = stamps[excess - 1];
            int removed = 0;
            foreach (var pair in _map)
            {
                if (removed >= excess)
                {
                    break;
                }

                if (pair.Value.Stamp <= cutoff && _map.TryRemove(pair))
                {
                    pair.Value.MarkEvicted();
                    Interlocked.Decrement(ref _count);
                    removed++;
                }
            }

            Interlocked.Add(ref _evictions, removed);
        }
        finally
        {
            if (stamps is not null)
            {
                ArrayPool<long>.Shared.Return(stamps);
            }

            Volatile.Write(ref _trimming, 0);
        }
    }
}
