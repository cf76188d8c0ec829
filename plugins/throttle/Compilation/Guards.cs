using Governor.Plugins.Throttle.Limiting;
using Governor.Plugins.Throttle.Resources;

namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// One strategy bound to one resource: the limiter (whose state outlives hot reloads), the
/// response for rejected requests, and whether it only observes. Immutable; a reload builds new
/// guards around the kept limiters.
/// </summary>
internal abstract class Guard
{
    protected Guard(string kind, string strategy, ResourceStats stats, Rejection rejection, bool observe)
    {
        Kind = kind;
        Strategy = strategy;
        Stats = stats;
        Rejection = rejection;
        Observe = observe;
    }

    /// <summary>The strategy kind, e.g. <c>RateLimitStrategy</c>.</summary>
    public string Kind { get; }

    /// <summary>The strategy's <c>metadata.name</c>.</summary>
    public string Strategy { get; }

    public ResourceStats Stats { get; }

    public Rejection Rejection { get; }

    /// <summary>Observe mode: count what would be rejected, reject nothing.</summary>
    public bool Observe { get; }

    /// <summary>Counts a rejection; true when the request must really be rejected (not observing).</summary>
    public bool Reject()
    {
        if (Observe)
        {
            Stats.AddObservedBlock(this);
            return false;
        }

        Stats.AddBlocked(this);
        return true;
    }
}

internal sealed class RateGuard : Guard
{
    public RateGuard(WindowRateLimiter limiter, string strategy, ResourceStats stats, Rejection rejection, bool observe)
        : base(Rules.ThrottleRuleKinds.RateLimit, strategy, stats, rejection, observe)
    {
        Limiter = limiter;
    }

    public WindowRateLimiter Limiter { get; }
}

internal sealed class QueueGuard : Guard
{
    public QueueGuard(UniformQueue queue, string strategy, ResourceStats stats, Rejection rejection, bool observe)
        : base(Rules.ThrottleRuleKinds.Throttling, strategy, stats, rejection, observe)
    {
        Queue = queue;
    }

    public UniformQueue Queue { get; }
}

internal sealed class ConcurrencyGuard : Guard
{
    public ConcurrencyGuard(ConcurrencyLimiter limiter, string strategy, ResourceStats stats, Rejection rejection, bool observe)
        : base(Rules.ThrottleRuleKinds.ConcurrencyLimit, strategy, stats, rejection, observe)
    {
        Limiter = limiter;
    }

    public ConcurrencyLimiter Limiter { get; }
}

/// <summary>Every guard of one resource name, by kind, in the order they are checked.</summary>
internal sealed class Binding
{
    public Binding(ResourceName name, ResourceStats stats, RateGuard[] rates, QueueGuard[] queues, ConcurrencyGuard[] concurrency)
    {
        Name = name;
        Stats = stats;
        Rates = rates;
        Queues = queues;
        Concurrency = concurrency;
    }

    public ResourceName Name { get; }

    public ResourceStats Stats { get; }

    public RateGuard[] Rates { get; }

    public QueueGuard[] Queues { get; }

    public ConcurrencyGuard[] Concurrency { get; }

    public bool Observing => Rates.All(g => g.Observe) && Queues.All(g => g.Observe) && Concurrency.All(g => g.Observe);
}
