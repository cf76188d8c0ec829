using System.Net;
using Governor.Interception;

namespace Governor.Plugins.Throttle;

/// <summary>
/// Thrown to the app for an outbound call that the throttle plugin rejected, when the setting
/// <c>plugins:throttle:outboundRejection</c> is <c>exception</c> (by default the caller gets the
/// fallback response instead). Apps cannot reference this type, so it derives from
/// <see cref="HttpRequestException"/>, which their existing handling of failed calls already
/// catches; <see cref="HttpRequestException.StatusCode"/> is the fallback's status (429 by
/// default) and the message names the resource and the strategy. It is an
/// <see cref="IGovernorRejection"/>: the outbound provider passes it to the caller, where any
/// other exception from a handler would be treated as a Governor fault and the call sent (fail-open).
/// </summary>
public sealed class ThrottledException : HttpRequestException, IGovernorRejection
{
    public ThrottledException()
        : this("The outbound call was throttled by Governor.")
    {
    }

    public ThrottledException(string message)
        : base(message)
    {
    }

    public ThrottledException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    internal ThrottledException(string resource, string kind, string strategy, int statusCode)
        : base($"Governor throttled the outbound call to '{resource}' ({kind} '{strategy}'); the call was not sent.", null, (HttpStatusCode)statusCode)
    {
        Resource = resource;
        Strategy = strategy;
    }

    /// <summary>The resource name the call matched, e.g. <c>api.example.com</c>.</summary>
    public string? Resource { get; }

    /// <summary>The <c>metadata.name</c> of the strategy that rejected the call.</summary>
    public string? Strategy { get; }
}
