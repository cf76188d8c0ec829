namespace Governor.Plugins.Gray;

/// <summary>The plugin's settings (<c>plugins:gray:*</c>), read once when it starts.</summary>
internal sealed class GrayOptions
{
    public const string DefaultHeader = "x-governor-tag";
    public const string DefaultTemplate = "{service}-{label}";

    /// <summary><c>mode: observe</c>: decisions are counted and logged, destinations never rewritten.</summary>
    public bool Observe { get; init; }

    /// <summary>The plain header that carries the label on outbound calls (and is read on inbound ones).</summary>
    public string Header { get; init; } = DefaultHeader;

    /// <summary>More headers a label is read from on the way in (never written).</summary>
    public IReadOnlyList<string> AcceptHeaders { get; init; } = new[] { "x-mse-tag" };

    /// <summary>Whether a label that arrives with a request is believed; false at an edge that faces the outside.</summary>
    public bool TrustInboundLabel { get; init; } = true;

    /// <summary>Rerouted calls keep the Host header (and TLS name) of the original destination.</summary>
    public bool PreserveHost { get; init; } = true;

    /// <summary>Requests that reach a labeled instance with no label take the instance's label.</summary>
    public bool LabelByWorkload { get; init; }

    public bool DnsEnabled { get; init; } = true;

    public string DnsTemplate { get; init; } = DefaultTemplate;

    public TimeSpan DnsTtl { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan DnsNegativeTtl { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan DnsTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a lane instance that refused a connection is skipped.</summary>
    public TimeSpan EjectionTime { get; init; } = TimeSpan.FromSeconds(10);

    public static GrayOptions Read(IPluginSettings settings, IGovernorLogger log)
    {
        var defaults = new GrayOptions();
        string header = HeaderName(settings, "header", DefaultHeader, log);
        var accept = new List<string>();
        var acceptSetting = settings.GetString("acceptHeaders") is null ? defaults.AcceptHeaders : settings.GetList("acceptHeaders");
        foreach (string name in acceptSetting)
        {
            if (IsToken(name) && !string.Equals(name, header, StringComparison.OrdinalIgnoreCase))
            {
                accept.Add(name.ToLowerInvariant());
            }
            else if (!IsToken(name))
            {
                log.Warn("plugins:gray:acceptHeaders has '{Name}', which is not a header name; it is ignored", name);
            }
        }

        string template = settings.GetString("dns:template") ?? DefaultTemplate;
        if (!template.Contains("{service}", StringComparison.Ordinal) || !template.Contains("{label}", StringComparison.Ordinal)
            || template.Contains('.', StringComparison.Ordinal))
        {
            log.Warn("plugins:gray:dns:template '{Template}' must contain {{service}} and {{label}} and no '.' (it names the first DNS label of the lane's Service); using {Default}", template, DefaultTemplate);
            template = DefaultTemplate;
        }

        return new GrayOptions
        {
            Observe = settings.GetChoice("mode", "enforce", "enforce", "observe") == "observe",
            Header = header,
            AcceptHeaders = accept,
            TrustInboundLabel = settings.GetBool("trustInboundLabel", defaults.TrustInboundLabel),
            PreserveHost = settings.GetChoice("hostHeader", "original", "original", "destination") == "original",
            LabelByWorkload = settings.GetBool("labelByWorkload", defaults.LabelByWorkload),
            DnsEnabled = settings.GetBool("dns:enabled", defaults.DnsEnabled),
            DnsTemplate = template,
            DnsTtl = Positive(settings.GetDuration("dns:ttl", defaults.DnsTtl), defaults.DnsTtl),
            DnsNegativeTtl = Positive(settings.GetDuration("dns:negativeTtl", defaults.DnsNegativeTtl), defaults.DnsNegativeTtl),
            DnsTimeout = Positive(settings.GetDuration("dns:timeout", defaults.DnsTimeout), defaults.DnsTimeout),
            EjectionTime = settings.GetDuration("ejectionTime", defaults.EjectionTime),
        };
    }

    private static TimeSpan Positive(TimeSpan value, TimeSpan fallback) => value > TimeSpan.Zero ? value : fallback;

    private static string HeaderName(IPluginSettings settings, string key, string fallback, IGovernorLogger log)
    {
        string? value = settings.GetString(key);
        if (value is null)
        {
            return fallback;
        }

        if (!IsToken(value) || string.Equals(value, "baggage", StringComparison.OrdinalIgnoreCase))
        {
            log.Warn("plugins:gray:{Key} '{Value}' is not a usable header name; using {Default}", key, value, fallback);
            return fallback;
        }

        return value.ToLowerInvariant();
    }

    /// <summary>An HTTP token (RFC 9110): what a header name may consist of.</summary>
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
