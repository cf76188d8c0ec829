namespace Governor.Plugins.Throttle.Limiting;

/// <summary>
/// The plugin's time. Two readings, both monotonic (never the wall clock):
/// <see cref="NowMs"/> for rate windows and warm-up, and <see cref="Timestamp"/> for queueing.
/// Why two: in a KVM guest such as the benchmark machine, <c>Stopwatch.GetTimestamp</c> costs
/// about 26 ns, as much as a whole <c>TokenBucketRateLimiter.AttemptAcquire</c>, while
/// <c>Environment.TickCount64</c> (CLOCK_MONOTONIC_COARSE on Linux) costs about 6 ns with a
/// resolution of 1-4 ms. Rate windows are cut into 100 ms buckets or longer, so the coarse
/// clock moves their edges by at most a few percent of one bucket; queueing spaces requests
/// by as little as 1 ms, so it reads the precise clock (and is waiting anyway).
/// Tests pass a <see cref="TimeProvider"/> and then both readings come from it.
/// </summary>
internal sealed class ThrottleClock
{
    private readonly bool _isSystem;

    public ThrottleClock(TimeProvider provider)
    {
        Provider = provider;
        _isSystem = ReferenceEquals(provider, TimeProvider.System);
        Frequency = provider.TimestampFrequency;
    }

    public static ThrottleClock System { get; } = new(TimeProvider.System);

    /// <summary>For delays (<c>Task.Delay(delay, Provider)</c>).</summary>
    public TimeProvider Provider { get; }

    /// <summary>Ticks per second of <see cref="Timestamp"/>.</summary>
    public long Frequency { get; }

    /// <summary>Milliseconds on a monotonic clock with an arbitrary origin.</summary>
    public long NowMs => _isSystem ? Environment.TickCount64 : ToMilliseconds(Provider.GetTimestamp());

    /// <summary>A precise monotonic timestamp in <see cref="Frequency"/> ticks per second.</summary>
    public long Timestamp => Provider.GetTimestamp();

    public long TicksFrom(TimeSpan span) => (long)(span.TotalSeconds * Frequency);

    public TimeSpan ToTimeSpan(long ticks) => TimeSpan.FromSeconds(ticks / (double)Frequency);

    private long ToMilliseconds(long timestamp) => (timestamp / Frequency * 1000) + (timestamp % Frequency * 1000 / Frequency);
}
