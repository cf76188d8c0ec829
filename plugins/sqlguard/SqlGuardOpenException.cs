using System.Data.Common;

namespace Governor.Plugins.SqlGuard;

/// <summary>
/// Fails a command whose statement template has an open circuit breaker, before the command
/// reaches the database. It derives from <see cref="DbException"/> so that the app's existing
/// <c>catch (DbException)</c> and EF Core's error handling see a database error. Apps cannot
/// name this type (it lives in the agent's plugin context); they see a <see cref="DbException"/>
/// whose message names the template, the rule and when the breaker will let a command try again.
/// </summary>
public sealed class SqlGuardOpenException : DbException
{
    public SqlGuardOpenException(string message, string template, string database, string ruleName, string strategyName, DateTimeOffset retryAt)
        : base(message)
    {
        Template = template;
        Database = database;
        RuleName = ruleName;
        StrategyName = strategyName;
        RetryAt = retryAt;
    }

    /// <summary>The normalized statement template whose breaker is open.</summary>
    public string Template { get; }

    /// <summary>The database of the template ("" when the connection named none).</summary>
    public string Database { get; }

    /// <summary><c>metadata.name</c> of the FaultToleranceRule.</summary>
    public string RuleName { get; }

    /// <summary><c>metadata.name</c> of the CircuitBreakerStrategy.</summary>
    public string StrategyName { get; }

    /// <summary>When the breaker lets one probe command through (already past while a probe runs).</summary>
    public DateTimeOffset RetryAt { get; }

    /// <summary>
    /// False on purpose: retrying strategies (EF Core's EnableRetryOnFailure and the like) would
    /// otherwise retry at once into the open breaker and hold the caller for their whole
    /// back-off; the point of the breaker is to fail fast.
    /// </summary>
    public override bool IsTransient => false;
}
