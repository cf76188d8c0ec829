namespace Governor.Plugins.SqlGuard;

/// <summary>The plugin's settings (<c>plugins:sqlguard:*</c>), read at start.</summary>
internal sealed record SqlGuardOptions
{
    /// <summary><c>observe</c>: every rule in observer mode — breakers run, log and count, but no command is failed.</summary>
    public bool Observe { get; init; }

    /// <summary><c>maxTemplates</c>: tracked templates (counters and breakers), least recently used dropped beyond.</summary>
    public int MaxTemplates { get; init; } = 1000;

    /// <summary><c>maxCachedTexts</c>: command texts whose template is remembered.</summary>
    public int MaxCachedTexts { get; init; } = 2000;

    /// <summary><c>maxCachedTextLength</c>: longer command texts are normalized on every execution and never cached.</summary>
    public int MaxCachedTextLength { get; init; } = 8192;

    /// <summary><c>slowThreshold</c>: what counts as slow in the counters of templates that no SlowRequestRatio rule governs.</summary>
    public TimeSpan SlowThreshold { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary><c>statusTemplates</c>: ungoverned templates reported in status (the busiest); governed ones are always reported.</summary>
    public int StatusTemplates { get; init; } = 50;

    /// <summary><c>rejectLogInterval</c>: at most one "rejected" log line per breaker per interval.</summary>
    public TimeSpan RejectLogInterval { get; init; } = TimeSpan.FromSeconds(10);

    public static SqlGuardOptions Read(IPluginSettings settings) => new()
    {
        Observe = settings.GetBool("observe", false),
        MaxTemplates = settings.GetInt("maxTemplates", 1000, min: 10, max: 1_000_000),
        MaxCachedTexts = settings.GetInt("maxCachedTexts", 2000, min: 10, max: 1_000_000),
        MaxCachedTextLength = settings.GetInt("maxCachedTextLength", 8192, min: 64, max: 1_048_576),
        SlowThreshold = Positive(settings.GetDuration("slowThreshold", TimeSpan.FromSeconds(1)), TimeSpan.FromSeconds(1)),
        StatusTemplates = settings.GetInt("statusTemplates", 50, min: 0, max: 100_000),
        RejectLogInterval = Positive(settings.GetDuration("rejectLogInterval", TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(10)),
    };

    private static TimeSpan Positive(TimeSpan value, TimeSpan fallback) => value > TimeSpan.Zero ? value : fallback;
}
