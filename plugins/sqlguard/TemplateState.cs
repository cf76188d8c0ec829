using Governor.Plugins.SqlGuard.Breaking;
using Governor.Plugins.SqlGuard.Templates;

namespace Governor.Plugins.SqlGuard;

/// <summary>
/// One statement template on one database: its counters and the breakers the rules give it.
/// Counters are plain fields updated with <see cref="Interlocked"/> on the command path and
/// read by status collection.
/// </summary>
internal sealed class TemplateState : LruItem
{
    private TemplateBinding? _binding;
    private long _count;
    private long _slow;
    private long _errors;
    private long _rejected;
    private long _wouldReject;

    public TemplateState(string database, string template)
    {
        Database = database;
        Template = template;
        Resource = database.Length == 0 ? "sql:" + template : "sql@" + database + ":" + template;
    }

    /// <summary>The database label: the connection's database, or the file name for SQLite, or the data source.</summary>
    public string Database { get; }

    /// <summary>The normalized command text.</summary>
    public string Template { get; }

    /// <summary>The resource name in status and logs: <c>sql@&lt;database&gt;:&lt;template&gt;</c> (or <c>sql:&lt;template&gt;</c> without a database) — also a valid exact target.</summary>
    public string Resource { get; }

    public long Count => Interlocked.Read(ref _count);

    public long Slow => Interlocked.Read(ref _slow);

    public long Errors => Interlocked.Read(ref _errors);

    public long Rejected => Interlocked.Read(ref _rejected);

    public long WouldReject => Interlocked.Read(ref _wouldReject);

    public TemplateBinding? Binding => Volatile.Read(ref _binding);

    public void CountCompleted(bool slow, bool failed)
    {
        Interlocked.Increment(ref _count);
        if (slow)
        {
            Interlocked.Increment(ref _slow);
        }

        if (failed)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    public void CountRejected() => Interlocked.Increment(ref _rejected);

    public void CountWouldReject() => Interlocked.Increment(ref _wouldReject);

    /// <summary>Publishes <paramref name="next"/> unless another thread rebound first; returns the binding in force.</summary>
    public TemplateBinding Publish(TemplateBinding next, TemplateBinding? expected)
    {
        var previous = Interlocked.CompareExchange(ref _binding, next, expected);
        return ReferenceEquals(previous, expected) ? next : previous!;
    }
}

/// <summary>The breakers of one template under one compiled rule set; immutable.</summary>
internal sealed class TemplateBinding
{
    public TemplateBinding(long version, CircuitBreaker[] breakers, long slowStopwatchTicks)
    {
        Version = version;
        Breakers = breakers;
        SlowStopwatchTicks = slowStopwatchTicks;
    }

    /// <summary>The <see cref="Rules.GuardRuleSet.Version"/> this binding was made for.</summary>
    public long Version { get; }

    public CircuitBreaker[] Breakers { get; }

    /// <summary>Above this duration a command counts as slow in the template's counters.</summary>
    public long SlowStopwatchTicks { get; }
}
