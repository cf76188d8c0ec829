namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>A clock that moves only when told to (the breaker's windows and recovery timeouts under test control).</summary>
internal sealed class ManualClock : TimeProvider
{
    private static readonly DateTimeOffset s_origin = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private const long StartTicks = 50_000_000_000;
    private long _ticks = StartTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => s_origin + TimeSpan.FromTicks(Interlocked.Read(ref _ticks) - StartTicks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
