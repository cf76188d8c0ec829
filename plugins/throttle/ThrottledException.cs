using System.Net;

namespace Governor.Plugins.Throttle;

/// <summary>
/// Thrown to the app for an outbound call that the throttle plugin rejected, when the setting
/// <c>plugins:throttle:outboundRejection</c> is <c>exception</c> (by default the caller gets the
/// fallback response instead). Apps cannot reference this type, so it derives from
/// <see cref="HttpRequestException"/>, which their existing handling of failed calls already
/// catches; <see cref="HttpRequestException.StatusCode"/> is the fallback's status (429 by
/// default) and the message names the resource and the strategy.
/// </summary>
public sealed class ThrottledException : HttpRequestException
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
