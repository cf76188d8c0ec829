namespace Governor;

public enum GovernorLogLevel
{
    Verbose,
    Debug,
    Information,
    Warning,
    Error,
    Fatal,
}

/// <summary>
/// The agent's log (Serilog underneath, in the agent's own files; never the app's console or
/// the app's logging). Message templates use Serilog syntax: <c>"Opened {Template}"</c>.
/// </summary>
public interface IGovernorLogger
{
    bool IsEnabled(GovernorLogLevel level);

    void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args);
}

public static class GovernorLoggerExtensions
{
    public static void Debug(this IGovernorLogger logger, string template, params object?[] args)
    {
        if (logger.IsEnabled(GovernorLogLevel.Debug))
        {
            logger.Write(GovernorLogLevel.Debug, null, template, args);
        }
    }

    public static void Info(this IGovernorLogger logger, string template, params object?[] args)
        => logger.Write(GovernorLogLevel.Information, null, template, args);

    public static void Warn(this IGovernorLogger logger, string template, params object?[] args)
        => logger.Write(GovernorLogLevel.Warning, null, template, args);

    public static void Warn(this IGovernorLogger logger, Exception exception, string template, params object?[] args)
        => logger.Write(GovernorLogLevel.Warning, exception, template, args);

    public static void Error(this IGovernorLogger logger, Exception? exception, string template, params object?[] args)
        => logger.Write(GovernorLogLevel.Error, exception, template, args);
}

/// <summary>
/// Lets through at most one message per interval and counts the ones it held back, so a
/// flood (an attack being throttled, a breaker rejecting thousands of commands) cannot turn
/// into a log storm. Lock-free.
/// </summary>
public sealed class LogRateLimiter
{
    private readonly long _intervalTicks;
    private long _nextAllowed;
    private long _suppressed;

    public LogRateLimiter(TimeSpan interval)
    {
        _intervalTicks = (long)(interval.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
    }

    /// <summary>
    /// True when a message may be written now; <paramref name="suppressed"/> is how many were
    /// held back since the last one written.
    /// </summary>
    public bool TryAcquire(out long suppressed)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long next = Volatile.Read(ref _nextAllowed);
        if (now >= next && Interlocked.CompareExchange(ref _nextAllowed, now + _intervalTicks, next) == next)
        {
            suppressed = Interlocked.Exchange(ref _suppressed, 0);
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        suppressed = 0;
        return false;
    }
}
