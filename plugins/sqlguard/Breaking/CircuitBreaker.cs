using System.Diagnostics;
using System.Globalization;
using Governor.Plugins.SqlGuard.Rules;

namespace Governor.Plugins.SqlGuard.Breaking;

internal enum PassDecision
{
    Pass,
    Probe,
    Reject,
}

/// <summary>
/// The breaker of one template under one rule, with Sentinel's semantics:
/// <list type="bullet">
/// <item>Closed: every command passes; each completion is counted in a sliding window of
/// <c>statDuration</c>. The breaker opens when the window holds at least <c>minRequestAmount</c>
/// commands and the bad share (slower than <c>maxAllowedRt</c>, or failed) exceeds
/// <c>triggerRatio</c> — or equals it when <c>triggerRatio</c> is 1.0.</item>
/// <item>Open: every command is rejected until <c>recoveryTimeout</c> has passed.</item>
/// <item>Half-open: the first command after that is the probe and passes; every other command
/// is rejected while it runs. A fast, successful probe closes the breaker and clears the
/// window; a slow or failed probe opens it again for another <c>recoveryTimeout</c>.</item>
/// </list>
/// Lock-free and allocation-free while closed: the window is ten packed 64-bit buckets updated
/// with compare-and-swap, and the state is one reference (<see cref="BreakerPhase"/>).
/// </summary>
internal sealed class CircuitBreaker
{
    public const int Buckets = 10;

    /// <summary>A probe still running after this long (or recoveryTimeout, if longer) counts as lost: a new one may go, so a lost completion cannot keep a breaker half-open forever.</summary>
    public static readonly TimeSpan MinProbeTimeout = TimeSpan.FromSeconds(30);

    // Bucket layout: bits 0-19 total, 20-39 bad, 40-63 the bucket's period number (mod 2^24).
    private const int CountBits = 20;
    private const long CountMax = (1L << CountBits) - 1;
    private const int PeriodShift = 2 * CountBits;
    private const long PeriodMask = (1L << 24) - 1;

    private readonly long[] _buckets = new long[Buckets];
    private readonly TimeProvider _clock;
    private readonly GuardLog _log;
    private readonly long _bucketTicks;
    private readonly long _recoveryTicks;
    private readonly long _probeTimeoutTicks;
    private readonly long _maxRtStopwatchTicks;
    private readonly LogRateLimiter _rejectLog;
    private GuardRule _rule;
    private BreakerPhase _phase = new(BreakerState.Closed);
    private long _transitions;

    public CircuitBreaker(GuardRule rule, TemplateState template, TimeProvider clock, GuardLog log, TimeSpan rejectLogInterval)
    {
        _rule = rule;
        Template = template;
        _clock = clock;
        _log = log;
        var spec = rule.Strategy;
        double frequency = clock.TimestampFrequency;
        _bucketTicks = Math.Max(1, (long)(spec.StatDuration.TotalSeconds * frequency / Buckets));
        _recoveryTicks = (long)(spec.RecoveryTimeout.TotalSeconds * frequency);
        _probeTimeoutTicks = (long)(Math.Max(spec.RecoveryTimeout.TotalSeconds, MinProbeTimeout.TotalSeconds) * frequency);
        _maxRtStopwatchTicks = spec.MaxAllowedRt is { } rt ? (long)(rt.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        _rejectLog = new LogRateLimiter(rejectLogInterval);
    }

    public GuardRule Rule => Volatile.Read(ref _rule);

    public TemplateState Template { get; }

    public BreakerState State => Volatile.Read(ref _phase).State;

    /// <summary>The fast check before <see cref="TryPass"/>: a closed breaker lets everything through.</summary>
    public bool IsClosed => Volatile.Read(ref _phase).State == BreakerState.Closed;

    /// <summary>How many times the state changed (status: <c>stateChanges</c>).</summary>
    public long Transitions => Interlocked.Read(ref _transitions);

    /// <summary>A reload kept this breaker (same rule, strategy and parameters); observer mode may have changed.</summary>
    public void Update(GuardRule rule) => Volatile.Write(ref _rule, rule);

    /// <summary>Whether a command may go now; <paramref name="phase"/> is the probe token (Probe) or the phase that rejects (Reject).</summary>
    public PassDecision TryPass(long now, out BreakerPhase? phase)
    {
        var current = Volatile.Read(ref _phase);
        phase = current;
        if (current.State == BreakerState.Closed)
        {
            return PassDecision.Pass;
        }

        if (current.State == BreakerState.Open)
        {
            if (now - current.RetryTimestamp < 0)
            {
                return PassDecision.Reject;
            }

            var probe = new ProbePhase(this, current, now);
            if (Interlocked.CompareExchange(ref _phase, probe, current) == current)
            {
                Interlocked.Increment(ref _transitions);
                phase = probe;
                _log.HalfOpen(this);
                return PassDecision.Probe;
            }

            phase = Volatile.Read(ref _phase);
            return PassDecision.Reject;
        }

        var running = (ProbePhase)current;
        if (now - running.Started >= _probeTimeoutTicks)
        {
            var reopened = NewOpenPhase(now, string.Create(CultureInfo.InvariantCulture, $"the probe did not complete within {CircuitBreakerStrategySpec.FormatDuration(TimeSpan.FromSeconds(_probeTimeoutTicks / (double)_clock.TimestampFrequency))}"));
            if (Interlocked.CompareExchange(ref _phase, reopened, current) == current)
            {
                Interlocked.Increment(ref _transitions);
                _log.Reopened(this, reopened, "did not complete in time");
                phase = reopened;
            }
        }

        return PassDecision.Reject;
    }

    /// <summary>Logs a rejection (or, observing, a command that would have been rejected), at most once per interval.</summary>
    public void LogRejection(bool observe)
    {
        if (_rejectLog.TryAcquire(out long suppressed))
        {
            _log.Rejected(this, observe, suppressed);
        }
    }

    /// <summary>The exception that fails a command rejected in <paramref name="phase"/>: one allocation, the message was built when the breaker opened.</summary>
    public SqlGuardOpenException CreateException(BreakerPhase phase)
    {
        var open = phase is ProbePhase probe ? probe.OpenedBy : phase;
        string message = (phase is ProbePhase ? open.ProbingMessage : open.Message) ?? "SQL guard: the circuit breaker is open";
        var rule = Rule;
        return new SqlGuardOpenException(message, Template.Template, Template.Database, rule.RuleName, rule.StrategyName, open.RetryAt);
    }

    /// <summary>Counts a completed command (not a probe) and opens the breaker when the window says so.</summary>
    public void OnCompleted(long now, long elapsedStopwatchTicks, bool failed)
    {
        bool bad = IsBad(elapsedStopwatchTicks, failed, probe: false);
        long periodNumber = now / _bucketTicks;
        Record(periodNumber, bad);
        var current = Volatile.Read(ref _phase);
        if (current.State != BreakerState.Closed)
        {
            return;
        }

        SumPeriods(periodNumber, out long total, out long badCount);
        var spec = Rule.Strategy;
        if (total < spec.MinRequestAmount)
        {
            return;
        }

        double ratio = badCount / (double)total;
        if (ratio > spec.TriggerRatio || (ratio == spec.TriggerRatio && spec.TriggerRatio >= 1.0))
        {
            string what = spec.Strategy == BreakerStrategy.SlowRequestRatio
                ? $"slower than {CircuitBreakerStrategySpec.FormatDuration(spec.MaxAllowedRt!.Value)}"
                : "failed";
            string reason = string.Create(CultureInfo.InvariantCulture, $"{badCount} of {total} commands in {CircuitBreakerStrategySpec.FormatDuration(spec.StatDuration)} {what} ({ratio:0.###} {(ratio > spec.TriggerRatio ? ">" : ">=")} {spec.TriggerRatio:0.###})");
            var open = NewOpenPhase(now, reason);
            if (Interlocked.CompareExchange(ref _phase, open, current) == current)
            {
                Interlocked.Increment(ref _transitions);
                _log.Opened(this, open, reason);
            }
        }
    }

    /// <summary>Ends the probe <paramref name="probe"/>: closes on a fast success, opens again otherwise.</summary>
    public void OnProbeCompleted(ProbePhase probe, long now, long elapsedStopwatchTicks, Exception? failure)
    {
        if (!ReferenceEquals(Volatile.Read(ref _phase), probe))
        {
            return;
        }

        double ms = elapsedStopwatchTicks * 1000.0 / Stopwatch.Frequency;
        if (IsBad(elapsedStopwatchTicks, failure is not null, probe: true))
        {
            string reason = failure is not null
                ? $"the probe failed ({failure.GetType().Name}: {failure.Message})"
                : string.Create(CultureInfo.InvariantCulture, $"the probe took {ms:0.#}ms, more than {CircuitBreakerStrategySpec.FormatDuration(Rule.Strategy.MaxAllowedRt!.Value)}");
            var open = NewOpenPhase(now, reason);
            if (Interlocked.CompareExchange(ref _phase, open, probe) == probe)
            {
                Interlocked.Increment(ref _transitions);
                _log.Reopened(this, open, reason);
            }

            return;
        }

        if (Interlocked.CompareExchange(ref _phase, new BreakerPhase(BreakerState.Closed), probe) == probe)
        {
            // Start afresh, as Sentinel does: what happened before the breaker opened is history.
            for (int i = 0; i < Buckets; i++)
            {
                Volatile.Write(ref _buckets[i], 0);
            }

            Interlocked.Increment(ref _transitions);
            _log.Closed(this, ms);
        }
    }

    /// <summary>The probe never reached the database (another handler failed it): back to Open with the same retry time, so the next command probes.</summary>
    public void ReleaseProbe(ProbePhase probe)
    {
        if (Interlocked.CompareExchange(ref _phase, probe.OpenedBy, probe) == probe)
        {
            Interlocked.Increment(ref _transitions);
            _log.ProbeReleased(this);
        }
    }

    private void SumPeriods(long periodNumber, out long total, out long bad)
    {
        total = 0;
        bad = 0;
        long current = periodNumber & PeriodMask;
        for (int i = 0; i < Buckets; i++)
        {
            long v = Volatile.Read(ref _buckets[i]);
            long period = (long)((ulong)v >> PeriodShift);
            if (((current - period) & PeriodMask) < Buckets)
            {
                total += v & CountMax;
                bad += (v >> CountBits) & CountMax;
            }
        }
    }

    private bool IsBad(long elapsedStopwatchTicks, bool failed, bool probe)
    {
        if (Rule.Strategy.Strategy == BreakerStrategy.ErrorRequestRatio)
        {
            return failed;
        }

        // Sentinel: slow means strictly more than maxAllowedRt. A probe must also succeed.
        return elapsedStopwatchTicks > _maxRtStopwatchTicks || (probe && failed);
    }

    private void Record(long periodNumber, bool bad)
    {
        int index = (int)(periodNumber % Buckets);
        long period = periodNumber & PeriodMask;
        long increment = bad ? (1L << CountBits) + 1 : 1;
        ref long slot = ref _buckets[index];
        while (true)
        {
            long v = Volatile.Read(ref slot);
            long next;
            if ((long)((ulong)v >> PeriodShift) == period)
            {
                if ((v & CountMax) == CountMax)
                {
                    // Saturated (over a million commands in one bucket): the ratio of those counted stands.
                    return;
                }

                next = v + increment;
            }
            else
            {
                next = (period << PeriodShift) + increment;
            }

            if (Interlocked.CompareExchange(ref slot, next, v) == v)
            {
                return;
            }
        }
    }

    private BreakerPhase NewOpenPhase(long now, string reason)
    {
        var rule = Rule;
        var retryAt = _clock.GetUtcNow().AddSeconds(_recoveryTicks / (double)_clock.TimestampFrequency);
        string retry = retryAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        string where = Template.Database.Length == 0 ? string.Empty : $" on database '{Template.Database}'";
        string rules = $"rule '{rule.RuleName}', CircuitBreakerStrategy '{rule.StrategyName}'";
        return new BreakerPhase(BreakerState.Open)
        {
            RetryTimestamp = now + _recoveryTicks,
            RetryAt = retryAt,
            Message = $"SQL guard: circuit breaker open for template \"{Template.Template}\"{where} ({rules}: {reason}); the command was not sent to the database. It will try again at {retry}.",
            ProbingMessage = $"SQL guard: circuit breaker half-open for template \"{Template.Template}\"{where} ({rules}): one probe command is running to see whether the database has recovered; the command was not sent to the database. It will try again when the probe completes (it opened until {retry}).",
        };
    }
}
