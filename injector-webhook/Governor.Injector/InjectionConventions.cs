namespace Governor.Injector;

/// <summary>
/// Every name, path, port and key that the injected pod, the agent and the Helm chart must agree
/// on, in one place. The chart tests read this class and compare it with charts/governor, so a
/// change here that is not made there (or the other way round) fails the build.
/// </summary>
internal static class InjectionConventions
{
    /// <summary>Written into the marker annotation; the injector and the agent ship together.</summary>
    public const string Version = "0.1.0";

    public const string DefaultAgentImage = "ghcr.io/governor/agent:" + Version;

    // --- Selection and opt-in/out -------------------------------------------------------------

    /// <summary>Namespace label <c>governor.io/inject=enabled</c>; also the pod label or
    /// annotation with <c>"true"</c>/<c>"false"</c>.</summary>
    public const string InjectKey = "governor.io/inject";
    public const string NamespaceEnabledValue = "enabled";
    public const string ContainersAnnotation = "governor.io/containers";
    public const string InjectedAnnotation = "governor.io/injected";
    public const string PluginsDisabledAnnotation = "governor.io/plugins-disabled";
    public const string RulesAnnotation = "governor.io/rules";
    public const string DrainDelayAnnotation = "governor.io/drain-delay";
    public const string ShutdownTimeoutAnnotation = "governor.io/shutdown-timeout";

    /// <summary>Never injected, whatever their labels say.</summary>
    public static readonly IReadOnlyList<string> AlwaysExcludedNamespaces = ["kube-system", "kube-public"];

    // --- Agent home and volumes ---------------------------------------------------------------

    /// <summary>Where the agent image keeps the agent home, and where app containers see it.</summary>
    public const string AgentHome = "/opt/governor";
    public const string StartupHookFileName = "Governor.StartupHook.dll";
    public const string StartupHookPath = AgentHome + "/" + StartupHookFileName;

    public const string AgentVolumeName = "governor-agent";
    public const string DefaultAgentVolumeSizeLimit = "64Mi";
    public const string InitContainerName = "governor-agent-init";

    /// <summary>Where the init container mounts the shared emptyDir to copy the home into.</summary>
    public const string InitTargetPath = "/governor-target";

    /// <summary>The agent image's own non-root user (see docker/agent.Dockerfile).</summary>
    public const long AgentImageUid = 65532;

    /// <summary>
    /// A small writable emptyDir for the agent's log and status files: the agent's default
    /// ($TMPDIR/governor) is not writable in containers with a read-only root filesystem.
    /// </summary>
    public const string LogVolumeName = "governor-logs";
    public const string LogMountPath = "/var/log/governor";
    public const string DefaultLogVolumeSizeLimit = "32Mi";

    public const string RulesVolumeName = "governor-rules";
    public const string RulesMountPath = "/etc/governor/rules";

    // --- Environment given to selected containers ---------------------------------------------

    public const string StartupHooksEnv = "DOTNET_STARTUP_HOOKS";
    public const string HomeEnv = "GOVERNOR_HOME";
    public const string AppEnv = "GOVERNOR_APP";
    public const string TagEnv = "GOVERNOR_TAG";
    public const string PluginsDisabledEnv = "GOVERNOR_PLUGINS_DISABLED";
    public const string RulesDirEnv = "GOVERNOR_RULES_DIR";
    public const string ProbePortEnv = "GOVERNOR_PROBE_PORT";
    public const string LogDirEnv = "GOVERNOR_LOG_DIR";
    public const string DrainDelayEnv = "GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY";
    public const string ShutdownTimeoutEnv = "GOVERNOR_PLUGINS__LOSSLESS__SHUTDOWNTIMEOUT";

    /// <summary>The OpenSergo traffic label that full-link gray release routes on.</summary>
    public const string TrafficLabel = "traffic.opensergo.io/label";

    /// <summary>Labels tried in order for <see cref="AppEnv"/> before the pod's name stem.</summary>
    public static readonly IReadOnlyList<string> AppNameLabels = ["app.kubernetes.io/name", "app"];

    // --- Readiness served by the agent's lossless plugin --------------------------------------

    public const string LosslessPlugin = "lossless";
    public const int DefaultProbePort = 15020;
    public const string ReadinessPath = "/governor/ready";
    public const string LivenessPath = "/governor/live";

    // --- Drain timing (the lossless plugin's defaults) ----------------------------------------

    public static readonly TimeSpan DefaultDrainDelay = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Slack for the host to finish stopping after the drain (disposal, log flush).</summary>
    public static readonly TimeSpan StopSlack = TimeSpan.FromSeconds(2);

    /// <summary>Kubernetes' default when a pod does not set terminationGracePeriodSeconds.</summary>
    public const long DefaultTerminationGracePeriodSeconds = 30;

    // --- Runtime settings the enabled plugins need --------------------------------------------

    /// <summary>
    /// Environment variables a plugin needs set before the runtime starts (the agent cannot set
    /// them from inside the process); mirrors the plugins' manifests (<c>readyToRunExclude</c>).
    /// Added to a container only when the plugin is enabled for the pod. Several plugins naming
    /// the same list variable are joined; a literal value the container already sets is
    /// extended with the names it lacks (its own names are kept); a <c>valueFrom</c> is left alone.
    /// </summary>
    public static readonly IReadOnlyList<PluginRuntimeSetting> PluginRuntimeSettings =
    [
        // The httpclient plugin patches SocketsHttpHandler; JIT-compiled (not precompiled)
        // System.Net.Http lets it intercept from the first call on every runtime.
        new("httpclient", ReadyToRunExcludeListEnv, "System.Net.Http"),
    ];

    /// <summary>The runtime's list of assemblies whose ReadyToRun code it ignores; ';'-separated.</summary>
    public const string ReadyToRunExcludeListEnv = "DOTNET_ReadyToRunExcludeList";

    /// <summary>Variables whose value is a list: merged, not replaced.</summary>
    public static readonly IReadOnlyDictionary<string, char> ListVariables = new Dictionary<string, char> { [ReadyToRunExcludeListEnv] = ';' };
}

/// <summary>An environment variable that <paramref name="Plugin"/> needs at runtime start.</summary>
internal sealed record PluginRuntimeSetting(string Plugin, string Name, string Value);
