using System.Globalization;
using Governor.Rules;

namespace Governor.Plugins.Throttle.Rules;

/// <summary>
/// The rule kinds the throttle plugin owns (group <c>fault-tolerance.opensergo.io</c>, version
/// <c>v1alpha1</c>). Parsers are pure: they report every problem through the
/// <see cref="SpecReader"/> (so each error names its field path and line) and return null
/// when the document is not valid.
/// </summary>
internal static class ThrottleRuleKinds
{
    public const string Group = "fault-tolerance.opensergo.io";
    public const string RateLimit = "RateLimitStrategy";
    public const string Throttling = "ThrottlingStrategy";
    public const string ConcurrencyLimit = "ConcurrencyLimitStrategy";
    public const string HttpFallback = "HttpRequestFallbackAction";

    /// <summary>Highest accepted threshold per window: keeps per-bucket counts far from 32-bit overflow.</summary>
    public const double MaxThreshold = 1_000_000_000;

    private static readonly string[] s_versions = { "v1alpha1" };
    private static readonly string[] s_metricTypes = { "RequestAmount" };

    // Global and GlobalToLocal are in the OpenSergo spec; they are recognised so that the error
    // can say "not supported yet" instead of "unknown value".
    private static readonly string[] s_rateLimitModes = { "Local", "Global", "GlobalToLocal" };
    private static readonly string[] s_concurrencyLimitModes = { "Local", "Global" };
    private static readonly string[] s_behaviors = { "ReturnProvidedResponse" };

    /// <summary>True for the kinds this plugin owns.</summary>
    public static bool IsOwned(string kind) =>
        kind is RateLimit or Throttling or ConcurrencyLimit or HttpFallback;

    /// <summary>New instances each time: the agent stamps its owner on them.</summary>
    public static IReadOnlyList<RuleKind> Create() => new[]
    {
        new RuleKind(Group, RateLimit, s_versions, ParseRateLimit),
        new RuleKind(Group, Throttling, s_versions, ParseThrottling),
        new RuleKind(Group, ConcurrencyLimit, s_versions, ParseConcurrencyLimit),
        new RuleKind(Group, HttpFallback, s_versions, ParseHttpFallback),
    };

    internal static object? ParseRateLimit(SpecReader spec)
    {
        int errorsBefore = spec.Errors.Count;
        spec.String("metricType", required: true, allowed: s_metricTypes);
        double? threshold = spec.Double("threshold", required: true, min: 0, max: MaxThreshold);
        if (threshold is > 0 and < 1)
        {
            spec.Error("threshold", $"{threshold.Value.ToString(CultureInfo.InvariantCulture)} admits nothing (a request is admitted while fewer than threshold were admitted in the window); use 0 to block everything, or a longer statDuration for rates below one per second, e.g. threshold: 1 with statDuration: \"2s\"");
        }

        TimeSpan? duration = ReadStatDuration(spec);
        ReadLocalMode(spec, s_rateLimitModes);

        int? warmUp = spec.Int("warmUpPeriodSec", min: 1, max: 3600);
        int? coldFactor = spec.Int("coldFactor", min: 2, max: 100);
        if (coldFactor is not null && !spec.Has("warmUpPeriodSec"))
        {
            spec.Error("coldFactor", "only applies with warmUpPeriodSec; add warmUpPeriodSec or remove coldFactor");
        }

        if (warmUp is not null && duration is not null && duration.Value != TimeSpan.FromSeconds(1))
        {
            spec.Error("warmUpPeriodSec", "needs statDuration: \"1s\" (warm-up follows Sentinel, whose thresholds are per second)");
        }

        spec.End();
        if (spec.Errors.Count != errorsBefore || threshold is null || duration is null)
        {
            return null;
        }

        return new RateLimitSpec((long)Math.Floor(threshold.Value), duration.Value, warmUp is null ? null : new WarmUpSpec(warmUp.Value, coldFactor ?? WarmUpSpec.DefaultColdFactor));
    }

    internal static object? ParseThrottling(SpecReader spec)
    {
        int errorsBefore = spec.Errors.Count;

        // The spec writes these as "20ms" / "500ms"; a plain number is read as milliseconds
        // because that is the unit Sentinel's queueing uses.
        var ms = TimeSpan.FromMilliseconds(1);
        TimeSpan? interval = spec.Duration("minIntervalOfRequests", required: true, min: ms, max: TimeSpan.FromHours(1), plainUnit: ms);
        TimeSpan? timeout = spec.Duration("queueTimeout", required: true, min: TimeSpan.Zero, max: TimeSpan.FromSeconds(60), plainUnit: ms);
        spec.End();
        if (spec.Errors.Count != errorsBefore || interval is null || timeout is null)
        {
            return null;
        }

        return new ThrottlingSpec(interval.Value, timeout.Value);
    }

    internal static object? ParseConcurrencyLimit(SpecReader spec)
    {
        int errorsBefore = spec.Errors.Count;
        int? max = spec.Int("maxConcurrency", required: true, min: 1, max: 1_000_000);
        ReadLocalMode(spec, s_concurrencyLimitModes);
        spec.End();
        return spec.Errors.Count != errorsBefore || max is null ? null : new ConcurrencyLimitSpec(max.Value);
    }

    internal static object? ParseHttpFallback(SpecReader spec)
    {
        int errorsBefore = spec.Errors.Count;
        spec.String("behavior", required: true, allowed: s_behaviors);
        int status = FallbackSpec.DefaultStatusCode;
        string? body = null;
        string? contentType = null;
        var headers = new List<KeyValuePair<string, string>>();
        var desc = spec.Object("behaviorDesc");
        if (desc is not null)
        {
            status = desc.Int("responseStatusCode", min: 100, max: 599) ?? FallbackSpec.DefaultStatusCode;
            body = desc.String("responseContentBody");
            foreach (var h in desc.Objects("responseAdditionalHeaders"))
            {
                string? key = h.String("key", required: true);
                string? value = h.String("value", required: true);
                if (key is not null && !IsToken(key))
                {
                    h.Error("key", $"'{key}' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)");
                }
                else if (value is not null && value.AsSpan().IndexOfAny('\r', '\n') >= 0)
                {
                    h.Error("value", "must not contain line breaks");
                }
                else if (key is not null && value is not null)
                {
                    // Content-Type is a property of the body, not an extra header: providers set it once.
                    if (string.Equals(key, "Content-Type", StringComparison.OrdinalIgnoreCase))
                    {
                        contentType = value;
                    }
                    else
                    {
                        headers.Add(new KeyValuePair<string, string>(key, value));
                    }
                }

                h.End();
            }

            desc.End();
        }

        spec.End();
        return spec.Errors.Count != errorsBefore ? null : new FallbackSpec(status, body, contentType, headers);
    }

    private static TimeSpan? ReadStatDuration(SpecReader spec)
    {
        bool hasText = spec.Has("statDuration");
        bool hasSeconds = spec.Has("statDurationSeconds");
        var min = TimeSpan.FromSeconds(1);
        var max = TimeSpan.FromHours(24);
        TimeSpan? text = spec.Duration("statDuration", min: min, max: max);
        long? seconds = spec.Long("statDurationSeconds", min: 1, max: (long)max.TotalSeconds);
        if (hasText && hasSeconds)
        {
            spec.Error("statDurationSeconds", "use either statDuration or statDurationSeconds, not both");
            return null;
        }

        if (!hasText && !hasSeconds)
        {
            spec.Error("statDuration", "is required (a duration such as \"1s\"), or statDurationSeconds (a whole number of seconds)");
            return null;
        }

        return hasText ? text : seconds is null ? null : TimeSpan.FromSeconds(seconds.Value);
    }

    private static void ReadLocalMode(SpecReader spec, string[] allowed)
    {
        string? mode = spec.String("limitMode", required: true, allowed: allowed);
        if (mode is not null && mode != "Local")
        {
            spec.Error("limitMode", $"'{mode}' is not supported yet: Governor limits each process on its own; use Local (the threshold then applies per instance)");
        }
    }

    // RFC 9110 token characters.
    private static bool IsToken(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A <c>RateLimitStrategy</c>: at most <see cref="Threshold"/> requests per <see cref="StatDuration"/>.</summary>
internal sealed record RateLimitSpec(long Threshold, TimeSpan StatDuration, WarmUpSpec? WarmUp);

/// <summary>Sentinel's warm-up: the admitted rate climbs from threshold/coldFactor to threshold over the period.</summary>
internal sealed record WarmUpSpec(int PeriodSec, int ColdFactor)
{
    public const int DefaultColdFactor = 3;
}

/// <summary>A <c>ThrottlingStrategy</c>: uniform spacing with a bounded queue wait.</summary>
internal sealed record ThrottlingSpec(TimeSpan MinInterval, TimeSpan QueueTimeout);

/// <summary>A <c>ConcurrencyLimitStrategy</c>.</summary>
internal sealed record ConcurrencyLimitSpec(int MaxConcurrency);

/// <summary>An <c>HttpRequestFallbackAction</c> with <c>behavior: ReturnProvidedResponse</c>.</summary>
internal sealed record FallbackSpec(int StatusCode, string? Body, string? ContentType, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    public const int DefaultStatusCode = 429;
}
