using System.Globalization;
using System.Net;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The plugin's settings, read once at start (keys under <c>plugins:lossless:</c>, plus the
/// agent-wide <c>probe:port</c>). Every value has a default that fits the Kubernetes defaults:
/// drain 5 s + shutdown 20 s + 2 s margin = 27 s &lt;= terminationGracePeriodSeconds 30.
/// </summary>
internal sealed class LosslessOptions
{
    public const int DefaultProbePort = 15020;
    public const string DefaultReadinessPath = "/governor/ready";
    public const string DefaultLivenessPath = "/governor/live";

    /// <summary>What the injector's grace-period check adds on top of drain + shutdown (docs/kubernetes.md).</summary>
    public static readonly TimeSpan GraceMargin = TimeSpan.FromSeconds(2);

    /// <summary>Kubernetes' default terminationGracePeriodSeconds, assumed on Kubernetes when nothing says otherwise.</summary>
    public static readonly TimeSpan KubernetesDefaultGrace = TimeSpan.FromSeconds(30);

    public int ProbePort { get; init; } = DefaultProbePort;

    /// <summary>Null means all interfaces (IPv6 any, dual mode; IPv4 any where IPv6 is missing).</summary>
    public IPAddress? ProbeAddress { get; init; }

    public string ReadinessPath { get; init; } = DefaultReadinessPath;

    public string LivenessPath { get; init; } = DefaultLivenessPath;

    public TimeSpan DrainDelay { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The pod's terminationGracePeriodSeconds when known (setting or the injector's env).</summary>
    public TimeSpan? TerminationGracePeriod { get; init; }

    /// <summary>MSE's delayTime: readiness waits this long after the warm-up.</summary>
    public TimeSpan StartupDelay { get; init; }

    /// <summary>How long readiness waits for a web host to be built before deciding there is none.</summary>
    public TimeSpan WebHostWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>"auto": wait for the web host when ASP.NET Core hosting is in the app; "true"/"false" force it.</summary>
    public string WaitForWebHost { get; init; } = "auto";

    public bool Precompile { get; init; } = true;

    public IReadOnlyList<string> WarmupRequests { get; init; } = Array.Empty<string>();

    /// <summary>
    /// Rounds of warm-up requests. 30 is the runtime's tier-1 call-count threshold: a method the
    /// warm-up calls fewer times is promoted (recompiled) while real traffic runs instead.
    /// </summary>
    public int WarmupRepeat { get; init; } = 30;

    public TimeSpan WarmupTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After the warm-up requests, wait (at most 10 s) until the JIT has gone quiet: the warm-up
    /// makes hundreds to thousands of methods hot, and their tier-1 recompilation in the background
    /// would otherwise compete with the first real requests (docs/performance-lossless.md).
    /// </summary>
    public bool WarmupJitSettle { get; init; } = true;

    /// <summary>MSE's warmupTime: the traffic ramp after readiness. Zero turns the ramp off.</summary>
    public TimeSpan WarmupTime { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The ramp's exponent: 1 is Dubbo's linear formula, 2 quadratic (slower start).</summary>
    public double WarmupCurve { get; init; } = 1.0;

    /// <summary>The inbound concurrency reached at the end of the ramp; 0 = no cap.</summary>
    public int WarmupMaxConcurrency { get; init; }

    public int WarmupMinConcurrency { get; init; } = 2;

    /// <summary>A request queued by the ramp goes on after this long anyway (never rejected).</summary>
    public TimeSpan WarmupQueueTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Caller side: retry an idempotent request once when the instance is going away.</summary>
    public bool CallerRetry { get; init; } = true;

    /// <summary>drainDelay + shutdownTimeout + 2 s: what the pod's grace period must hold.</summary>
    public TimeSpan RequiredGrace => DrainDelay + ShutdownTimeout + GraceMargin;

    /// <summary>The host's shutdown timeout must cover the drain and the wait, plus a second for the rest of the host.</summary>
    public TimeSpan MinimumHostShutdown => DrainDelay + ShutdownTimeout + TimeSpan.FromSeconds(1);

    public static LosslessOptions Read(IPluginSettings settings, Action<string> warn)
    {
        return new LosslessOptions
        {
            ProbePort = ReadPort(settings.GetGlobal("probe:port"), warn),
            ProbeAddress = ReadAddress(settings.GetString("probeAddress"), warn),
            ReadinessPath = ReadPath(settings.GetString("readinessPath"), DefaultReadinessPath, "readinessPath", warn),
            LivenessPath = ReadPath(settings.GetString("livenessPath"), DefaultLivenessPath, "livenessPath", warn),
            DrainDelay = NonNegative(settings.GetDuration("drainDelay", TimeSpan.FromSeconds(5))),
            ShutdownTimeout = NonNegative(settings.GetDuration("shutdownTimeout", TimeSpan.FromSeconds(20))),
            TerminationGracePeriod = settings.GetString("terminationGracePeriod") is { Length: > 0 }
                ? NonNegative(settings.GetDuration("terminationGracePeriod", KubernetesDefaultGrace))
                : null,
            StartupDelay = NonNegative(settings.GetDuration("startupDelay", TimeSpan.Zero)),
            WebHostWait = NonNegative(settings.GetDuration("webHostWait", TimeSpan.FromSeconds(30))),
            WaitForWebHost = settings.GetChoice("waitForWebHost", "auto", "auto", "true", "false"),
            Precompile = settings.GetBool("precompile", true),
            WarmupRequests = settings.GetList("warmupRequests"),
            WarmupRepeat = settings.GetInt("warmupRepeat", 30, 1, 1000),
            WarmupTimeout = NonNegative(settings.GetDuration("warmupTimeout", TimeSpan.FromSeconds(30))),
            WarmupJitSettle = settings.GetBool("warmupJitSettle", true),
            WarmupTime = NonNegative(settings.GetDuration("warmupTime", TimeSpan.FromSeconds(120))),
            WarmupCurve = settings.GetDouble("warmupCurve", 1.0, 0.1, 10.0),
            WarmupMaxConcurrency = settings.GetInt("warmupMaxConcurrency", 0, 0, 100_000),
            WarmupMinConcurrency = settings.GetInt("warmupMinConcurrency", 2, 1, 100_000),
            WarmupQueueTimeout = NonNegative(settings.GetDuration("warmupQueueTimeout", TimeSpan.FromSeconds(10))),
            CallerRetry = settings.GetBool("callerRetry", true),
        };
    }

    internal static int ReadPort(string? text, Action<string> warn)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultProbePort;
        }

        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is >= 0 and <= 65535)
        {
            return port;
        }

        warn($"Setting governor:probe:port = '{text}' is not a port: use 0 (any free port) to 65535. Using {DefaultProbePort}.");
        return DefaultProbePort;
    }

    internal static IPAddress? ReadAddress(string? text, Action<string> warn)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim() is "*" or "+" or "0.0.0.0" or "::" or "[::]")
        {
            return null;
        }

        if (IPAddress.TryParse(text.Trim().Trim('[', ']'), out var address))
        {
            return address;
        }

        if (string.Equals(text.Trim(), "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.Loopback;
        }

        warn($"Setting governor:plugins:lossless:probeAddress = '{text}' is not an IP address: use '*' (all interfaces) or an address such as 127.0.0.1. Using all interfaces.");
        return null;
    }

    internal static string ReadPath(string? text, string defaultValue, string key, Action<string> warn)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return defaultValue;
        }

        string path = text.Trim();
        if (path[0] != '/' || path.Contains(' ', StringComparison.Ordinal) || path.Contains('?', StringComparison.Ordinal))
        {
            warn($"Setting governor:plugins:lossless:{key} = '{text}' is not a path: use one starting with '/', without a query. Using {defaultValue}.");
            return defaultValue;
        }

        return path;
    }

    private static TimeSpan NonNegative(TimeSpan value) => value < TimeSpan.Zero ? TimeSpan.Zero : value;
}
