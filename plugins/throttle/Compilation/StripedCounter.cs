namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// A counter that many cores increment at once without fighting over one cache line: each core
/// adds into its own line (chosen by processor id) and readers sum the lines. Counting every
/// passed or blocked request with one shared <see cref="Interlocked"/> field would make that
/// line travel between cores on every request.
/// </summary>
internal sealed class StripedCounter
{
    private const int LongsPerLine = 8;
    private static readonly int s_stripes = (int)Math.Min(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount));

    // One line of padding in front, so the first stripe does not share a line with the array header.
    private readonly long[] _cells = new long[(s_stripes + 1) * LongsPerLine];

    public long Value
    {
        get
        {
            long sum = 0;
            for (int i = 1; i <= s_stripes; i++)
            {
                sum += Interlocked.Read(ref _cells[i * LongsPerLine]);
            }

            return sum;
        }
    }

    public void Increment()
    {
        int stripe = (Thread.GetCurrentProcessorId() & (s_stripes - 1)) + 1;
        Interlocked.Increment(ref _cells[stripe * LongsPerLine]);
    }
}
