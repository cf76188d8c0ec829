using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// A bucketed sliding window of admitted requests: the window is cut into
/// <see cref="BucketCount"/> buckets, and a request is admitted while the current bucket and the
/// nine before it hold fewer than the limit. The oldest bucket leaves the window whole, so the
/// counted span is between 0.9 and 1.0 window: every window that starts on a bucket edge holds
/// at most the limit, and any window whatsoever at most the limit plus what one bucket admitted
/// (a fixed window allows twice the limit across its edge; Sentinel's default is 2 buckets).
///
/// Each slot is one 64-bit word, (bucket number &lt;&lt; 32) | count, changed only by
/// compare-and-swap, so a slot still holding an older bucket is recognised and restarted by the
/// same CAS that counts into it: no rotation step, no lock, no allocation.
///
/// The nine earlier buckets no longer change (but for a request that raced the bucket edge), so
/// their sum is cached once per bucket, tagged with the bucket it was computed for, in a word of
/// its own cache line: the common path reads that word and CASes the current slot.
/// </summary>
internal sealed class SlidingWindow
{
    public const int BucketCount = 10;

    private readonly long[] _slots = new long[BucketCount];
    private readonly long _bucketMs;
    private Padded _earlier;

    public SlidingWindow(long windowMs)
    {
        WindowMs = windowMs;
        _bucketMs = Math.Max(1, windowMs / BucketCount);

        // Tag 0 with sum 0 would be a valid cache entry for bucket 0; start with a tag that is not.
        _earlier.Value = unchecked((long)0xFFFF_FFFF_0000_0000);
    }

    public long WindowMs { get; }

    public long BucketMs => _bucketMs;

    /// <summary>Admits and counts one request if the window holds fewer than <paramref name="limit"/>.</summary>
    public bool TryAcquire(long nowMs, long limit)
    {
        long bucket = nowMs / _bucketMs;
        uint tag = (uint)bucket;
        long earlier = Volatile.Read(ref _earlier.Value);
        long others = (uint)(earlier >>> 32) == tag ? (uint)earlier : CacheEarlier(tag);
        ref long slot = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_slots), (int)((ulong)bucket % BucketCount));
        while (true)
        {
            long word = Volatile.Read(ref slot);
            long count = (uint)(word >>> 32) == tag ? (uint)word : 0;
            if (others + count >= limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref slot, ((long)tag << 32) | (count + 1), word) == word)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Takes back one request counted by <see cref="TryAcquire"/> at <paramref name="nowMs"/>
    /// (a later check rejected it, so it never reached the app); nothing when that bucket is gone.
    /// </summary>
    public void Refund(long nowMs)
    {
        long bucket = nowMs / _bucketMs;
        uint tag = (uint)bucket;
        ref long slot = ref _slots[(int)((ulong)bucket % BucketCount)];
        while (true)
        {
            long word = Volatile.Read(ref slot);
            if ((uint)(word >>> 32) != tag || (uint)word == 0)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref slot, word - 1, word) == word)
            {
                // A bucket that is no longer the current one may be in the cached sum: recompute it on next use.
                if ((uint)(Volatile.Read(ref _earlier.Value) >>> 32) != tag)
                {
                    Volatile.Write(ref _earlier.Value, unchecked((long)0xFFFF_FFFF_0000_0000));
                }

                return;
            }
        }
    }

    /// <summary>What the window holds at <paramref name="nowMs"/>.</summary>
    public long Count(long nowMs)
    {
        long bucket = nowMs / _bucketMs;
        return Sum(bucket - BucketCount + 1, bucket);
    }

    /// <summary>The count admitted in buckets <paramref name="fromBucket"/> to <paramref name="toBucket"/> (inclusive) that are still held.</summary>
    public long Sum(long fromBucket, long toBucket)
    {
        long sum = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            long word = Volatile.Read(ref _slots[i]);
            uint offset = (uint)(word >>> 32) - (uint)fromBucket;
            if (word != 0 && offset <= (uint)(toBucket - fromBucket))
            {
                sum += (uint)word;
            }
        }

        return sum;
    }

    private long CacheEarlier(uint tag)
    {
        // Buckets tag-9 .. tag-1; unsigned arithmetic keeps this right when the tag wraps.
        long sum = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            long word = Volatile.Read(ref _slots[i]);
            uint age = tag - (uint)(word >>> 32);
            if (age - 1 < BucketCount - 1)
            {
                sum += (uint)word;
            }
        }

        // Racing threads compute the same value for the same tag; the last write wins harmlessly.
        Volatile.Write(ref _earlier.Value, ((long)tag << 32) | sum);
        return sum;
    }

    /// <summary>A word alone on its cache line, so that counting into the slots does not evict it from other cores.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Padded
    {
        [FieldOffset(64)]
        public long Value;
    }
}
