namespace Governor.Plugins.SqlGuard.Breaking;

/// <summary>
/// The guard's log lines. State changes are written by the one thread that won the transition,
/// so each is logged exactly once; rejections go through a per-breaker <see cref="LogRateLimiter"/>.
/// Every line names the template's resource, the rule and the strategy, so an operator can go
/// from a log line to the rule file.
/// </summary>
internal sealed class GuardLog
{
    private readonly IGovernorLogger _log;

    public GuardLog(IGovernorLogger log)
    {
        _log = log;
    }

    public IGovernorLogger Logger => _log;

    public void Opened(CircuitBreaker breaker, BreakerPhase open, string reason)
    {
        var rule = breaker.Rule;
        _log.Warn("SQL guard{Mode} opened the breaker of {Resource}: {Reason}; rule {Rule}, strategy {Strategy}; {Action} until {RetryAt}", Mode(rule.Observe), breaker.Template.Resource, reason, rule.RuleName, rule.StrategyName, Action(rule.Observe), open.RetryAt);
    }

    public void HalfOpen(CircuitBreaker breaker)
    {
        var rule = breaker.Rule;
        _log.Info("SQL guard{Mode} half-opened the breaker of {Resource}: one probe command goes through; rule {Rule}, strategy {Strategy}", Mode(rule.Observe), breaker.Template.Resource, rule.RuleName, rule.StrategyName);
    }

    public void Closed(CircuitBreaker breaker, double probeMilliseconds)
    {
        var rule = breaker.Rule;
        _log.Info("SQL guard{Mode} closed the breaker of {Resource}: the probe succeeded in {Milliseconds:0.#} ms; rule {Rule}, strategy {Strategy}", Mode(rule.Observe), breaker.Template.Resource, probeMilliseconds, rule.RuleName, rule.StrategyName);
    }

    public void Reopened(CircuitBreaker breaker, BreakerPhase open, string reason)
    {
        var rule = breaker.Rule;
        _log.Warn("SQL guard{Mode} re-opened the breaker of {Resource}: {Reason}; rule {Rule}, strategy {Strategy}; {Action} until {RetryAt}", Mode(rule.Observe), breaker.Template.Resource, reason, rule.RuleName, rule.StrategyName, Action(rule.Observe), open.RetryAt);
    }

    public void ProbeReleased(CircuitBreaker breaker)
    {
        var rule = breaker.Rule;
        _log.Debug("SQL guard: the probe of {Resource} was failed by another handler before it reached the database; the breaker is open again and the next command probes; rule {Rule}", breaker.Template.Resource, rule.RuleName);
    }

    public void Rejected(CircuitBreaker breaker, bool observe, long suppressed)
    {
        var rule = breaker.Rule;
        _log.Info("SQL guard{Mode} {Verb} a command of {Resource} (breaker {State}; rule {Rule}, strategy {Strategy}); {Suppressed} more since the last message", Mode(observe), observe ? "would have rejected" : "rejected", breaker.Template.Resource, breaker.State, rule.RuleName, rule.StrategyName, suppressed);
    }

    private static string Mode(bool observe) => observe ? " (observer mode)" : string.Empty;

    private static string Action(bool observe) => observe ? "commands still run (observer mode), would be rejected" : "rejecting its commands";
}
