using System.Globalization;
using Governor.Rules;

namespace Governor.Plugins.SqlGuard.Rules;

internal enum BreakerStrategy
{
    /// <summary>Opens on the share of commands slower than <c>slowConditions.maxAllowedRt</c>.</summary>
    SlowRequestRatio,

    /// <summary>Opens on the share of commands that failed.</summary>
    ErrorRequestRatio,
}

/// <summary>
/// <c>fault-tolerance.opensergo.io/v1alpha1</c> <c>CircuitBreakerStrategy</c>, as OpenSergo
/// defines it (field names of the OpenSergo CRD) with Sentinel's meaning:
/// <code>
/// spec:
///   strategy: SlowRequestRatio      # or ErrorRequestRatio
///   triggerRatio: '50%'             # or 0.5
///   statDuration: 1s                # default 1s
///   minRequestAmount: 5             # default 5
///   recoveryTimeout: 5s
///   slowConditions:
///     maxAllowedRt: 100ms           # required for SlowRequestRatio
///   errorConditions: {}             # optional, ErrorRequestRatio
/// </code>
/// </summary>
internal sealed record CircuitBreakerStrategySpec(
    BreakerStrategy Strategy,
    double TriggerRatio,
    TimeSpan StatDuration,
    int MinRequestAmount,
    TimeSpan RecoveryTimeout,
    TimeSpan? MaxAllowedRt)
{
    public const string KindName = "CircuitBreakerStrategy";

    public static readonly TimeSpan DefaultStatDuration = TimeSpan.FromSeconds(1);
    public const int DefaultMinRequestAmount = 5;

    public static readonly TimeSpan MinStatDuration = TimeSpan.FromMilliseconds(10);
    public static readonly TimeSpan MaxDuration = TimeSpan.FromHours(1);

    private static readonly string[] s_strategies = { nameof(BreakerStrategy.SlowRequestRatio), nameof(BreakerStrategy.ErrorRequestRatio) };

    /// <summary>A fresh kind per plugin instance: the agent stamps its owner on it.</summary>
    public static RuleKind CreateKind() => new(Governor.Rules.OpenSergo.FaultToleranceRuleSpec.Group, KindName, new[] { "v1alpha1" }, Parse);

    /// <summary>Reads a spec; every problem is reported with its field path and line, none throws.</summary>
    public static object? Parse(SpecReader spec)
    {
        string? strategyText = spec.String("strategy", required: true, allowed: s_strategies);
        double? ratio = ReadRatio(spec, "triggerRatio");
        var statDuration = spec.Duration("statDuration", min: MinStatDuration, max: MaxDuration) ?? DefaultStatDuration;
        int minRequests = spec.Int("minRequestAmount", min: 1) ?? DefaultMinRequestAmount;
        var recovery = spec.Duration("recoveryTimeout", required: true, min: TimeSpan.FromMilliseconds(1), max: MaxDuration);

        TimeSpan? maxRt = null;
        var slow = spec.Object("slowConditions", required: strategyText == nameof(BreakerStrategy.SlowRequestRatio));
        if (slow is not null)
        {
            // Sentinel counts response times in milliseconds, so a bare number here is milliseconds.
            maxRt = slow.Duration("maxAllowedRt", required: true, min: TimeSpan.Zero, max: MaxDuration, plainUnit: TimeSpan.FromMilliseconds(1));
            slow.End();
        }

        var errors = spec.Object("errorConditions");
        errors?.End();

        spec.End();
        if (strategyText is null || ratio is null || recovery is null || (strategyText == nameof(BreakerStrategy.SlowRequestRatio) && maxRt is null))
        {
            return null;
        }

        return new CircuitBreakerStrategySpec(Enum.Parse<BreakerStrategy>(strategyText), ratio.Value, statDuration, minRequests, recovery.Value, maxRt);
    }

    /// <summary>OpenSergo writes ratios as percentages ("60%"); Sentinel as fractions (0.6). Both are accepted.</summary>
    private static double? ReadRatio(SpecReader spec, string field)
    {
        string? text = spec.String(field, required: true);
        if (text is null)
        {
            return null;
        }

        string trimmed = text.Trim();
        bool percent = trimmed.EndsWith('%');
        if (percent)
        {
            trimmed = trimmed[..^1].TrimEnd();
        }

        if (!double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || double.IsNaN(value) || double.IsInfinity(value))
        {
            spec.Error(field, $"must be a ratio such as 0.5 or '50%', found '{text}'");
            return null;
        }

        if (percent)
        {
            if (value < 0 || value > 100)
            {
                spec.Error(field, $"{text} is out of range; use 0% to 100%");
                return null;
            }

            return value / 100;
        }

        if (value < 0 || value > 1)
        {
            spec.Error(field, $"{text} is out of range; use a fraction from 0 to 1 (0.5) or a percentage ('50%')");
            return null;
        }

        return value;
    }

    /// <summary>A stable text of every parameter: equal for a rule that did not change, so its breakers keep their state across reloads.</summary>
    public string Fingerprint() => string.Create(CultureInfo.InvariantCulture, $"{Strategy}|{TriggerRatio:R}|{StatDuration.Ticks}|{MinRequestAmount}|{RecoveryTimeout.Ticks}|{MaxAllowedRt?.Ticks}");

    public static string FormatDuration(TimeSpan t) => t.TotalMilliseconds < 1000
        ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.###}ms")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###}s");
}
