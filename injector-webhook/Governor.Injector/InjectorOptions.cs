using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Governor.Injector;

/// <summary>
/// The webhook's settings, read once at startup from configuration section <c>Injector</c>
/// (environment variables <c>Injector__AgentImage</c>, ...; the chart sets them). A bad value
/// stops the process with a message naming the key: the webhook is fail-open, so a crash-looping
/// injector only means pods start without the agent, which is better than injecting a pod spec
/// the API server then rejects.
/// </summary>
internal sealed partial record InjectorOptions
{
    public IPAddress ListenAddress { get; init; } = IPAddress.IPv6Any;
    public int Port { get; init; } = 8443;

    /// <summary>A kubernetes.io/tls secret mounted as a directory: tls.crt and tls.key.</summary>
    public string TlsDirectory { get; init; } = "/etc/governor-injector/tls";
    public string CertificateFileName { get; init; } = "tls.crt";
    public string KeyFileName { get; init; } = "tls.key";
    public TimeSpan TlsReloadInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The API server caps a request at 3 MiB; an AdmissionReview adds little to it.</summary>
    public long MaxRequestBodyBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>The injector's own namespace: never injected (its pods must start without it).</summary>
    public string? OwnNamespace { get; init; }
    public IReadOnlyList<string> ExcludedNamespaces { get; init; } = [];

    public string AgentImage { get; init; } = InjectionConventions.DefaultAgentImage;
    public string AgentImagePullPolicy { get; init; } = "IfNotPresent";
    public string AgentVolumeSizeLimit { get; init; } = InjectionConventions.DefaultAgentVolumeSizeLimit;
    public string InitCpuRequest { get; init; } = "10m";
    public string InitCpuLimit { get; init; } = "100m";
    public string InitMemoryRequest { get; init; } = "16Mi";
    public string InitMemoryLimit { get; init; } = "64Mi";

    /// <summary>Plugins disabled in every pod unless its annotation says otherwise.</summary>
    public IReadOnlyList<string> DisabledPlugins { get; init; } = [];
    public int ProbePort { get; init; } = InjectionConventions.DefaultProbePort;

    public IReadOnlyList<string> AllExcludedNamespaces =>
        [.. InjectionConventions.AlwaysExcludedNamespaces, .. ExcludedNamespaces, .. OwnNamespace is null ? [] : new[] { OwnNamespace }];

    public static InjectorOptions FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection("Injector");
        var defaults = new InjectorOptions();
        string? Get(string key) => string.IsNullOrWhiteSpace(section[key]) ? null : section[key]!.Trim();

        var ownNamespace = Get("Namespace") ?? NonEmpty(Environment.GetEnvironmentVariable("POD_NAMESPACE"));
        var options = new InjectorOptions
        {
            ListenAddress = Get("ListenAddress") is { } address
                ? IPAddress.TryParse(address, out var ip) ? ip : throw Invalid("ListenAddress", address, "an IP address")
                : defaults.ListenAddress,
            Port = Get("Port") is { } port ? ParseInt("Port", port, 0, 65535) : defaults.Port,
            TlsDirectory = Get("TlsDirectory") ?? defaults.TlsDirectory,
            CertificateFileName = Get("CertificateFileName") ?? defaults.CertificateFileName,
            KeyFileName = Get("KeyFileName") ?? defaults.KeyFileName,
            TlsReloadInterval = Get("TlsReloadIntervalMs") is { } ms
                ? TimeSpan.FromMilliseconds(ParseInt("TlsReloadIntervalMs", ms, 50, 3_600_000))
                : defaults.TlsReloadInterval,
            MaxRequestBodyBytes = Get("MaxRequestBodyBytes") is { } max
                ? ParseInt("MaxRequestBodyBytes", max, 1024, 64 * 1024 * 1024)
                : defaults.MaxRequestBodyBytes,
            OwnNamespace = ownNamespace,
            ExcludedNamespaces = SplitList(Get("ExcludedNamespaces")),
            AgentImage = Get("AgentImage") ?? defaults.AgentImage,
            AgentImagePullPolicy = Get("AgentImagePullPolicy") ?? defaults.AgentImagePullPolicy,
            AgentVolumeSizeLimit = Get("AgentVolumeSizeLimit") ?? defaults.AgentVolumeSizeLimit,
            InitCpuRequest = Get("InitCpuRequest") ?? defaults.InitCpuRequest,
            InitCpuLimit = Get("InitCpuLimit") ?? defaults.InitCpuLimit,
            InitMemoryRequest = Get("InitMemoryRequest") ?? defaults.InitMemoryRequest,
            InitMemoryLimit = Get("InitMemoryLimit") ?? defaults.InitMemoryLimit,
            DisabledPlugins = SplitList(Get("DisabledPlugins")),
            ProbePort = Get("ProbePort") is { } probe ? ParseInt("ProbePort", probe, 1, 65535) : defaults.ProbePort,
        };
        options.Validate();
        return options;
    }

    /// <summary>Rejects values that would make every injected pod invalid.</summary>
    public void Validate()
    {
        if (AgentImage.Any(char.IsWhiteSpace) || AgentImage.Length == 0)
            throw Invalid("AgentImage", AgentImage, "an image reference");
        if (AgentImagePullPolicy is not ("Always" or "IfNotPresent" or "Never"))
            throw Invalid("AgentImagePullPolicy", AgentImagePullPolicy, "Always, IfNotPresent or Never");
        foreach (var (key, value) in new[]
                 {
                     ("AgentVolumeSizeLimit", AgentVolumeSizeLimit), ("InitCpuRequest", InitCpuRequest),
                     ("InitCpuLimit", InitCpuLimit), ("InitMemoryRequest", InitMemoryRequest),
                     ("InitMemoryLimit", InitMemoryLimit),
                 })
        {
            if (!QuantityPattern().IsMatch(value))
                throw Invalid(key, value, "a Kubernetes quantity such as 64Mi or 100m");
        }
    }

    internal static IReadOnlyList<string> SplitList(string? value) =>
        value is null
            ? []
            : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Distinct(StringComparer.Ordinal).ToArray();

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int ParseInt(string key, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed >= min && parsed <= max
            ? parsed
            : throw Invalid(key, value, $"an integer from {min} to {max}");

    private static InjectorConfigurationException Invalid(string key, string value, string expected) =>
        new($"Configuration Injector:{key} = '{value}' is not valid: expected {expected}.");

    // The Kubernetes resource.Quantity grammar, restricted to the forms people write.
    [GeneratedRegex(@"^([0-9]+(\.[0-9]+)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[mkMGTPE])?$")]
    private static partial Regex QuantityPattern();
}

/// <summary>A setting that makes the injector unusable; the process exits with its message.</summary>
internal sealed class InjectorConfigurationException(string message) : Exception(message);
