using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static Governor.Injector.InjectionConventions;

namespace Governor.Injector.Mutation;

/// <summary>
/// What to inject into one pod, decided from its labels, annotations and containers before any
/// mutator runs. Everything a mutator needs is here, so the mutators stay small and never
/// disagree (e.g. the rules volume is added exactly when the rules mounts are).
/// </summary>
internal sealed partial class InjectionPlan
{
    private InjectionPlan(InjectorOptions options, List<string> warnings)
    {
        Options = options;
        Warnings = warnings;
    }

    public InjectorOptions Options { get; }
    public List<string> Warnings { get; }

    /// <summary>Container names to inject, in pod order.</summary>
    public IReadOnlyList<string> Containers { get; private set; } = [];

    /// <summary>The port each selected container's agent serves its probes on.</summary>
    public IReadOnlyDictionary<string, int> ProbePorts { get; private set; } = new Dictionary<string, int>();

    public string AppName { get; private set; } = "app";
    public bool HasTrafficLabel { get; private set; }
    public IReadOnlyList<string> DisabledPlugins { get; private set; } = [];
    public bool LosslessEnabled => !DisabledPlugins.Contains(LosslessPlugin);
    public string? RulesConfigMap { get; private set; }
    public string? DrainDelay { get; private set; }
    public string? ShutdownTimeout { get; private set; }

    public bool IsPluginEnabled(string plugin) => !DisabledPlugins.Contains(plugin);

    public static InjectionPlan Create(JsonObject pod, InjectorOptions options)
    {
        var plan = new InjectionPlan(options, []);
        var annotation = (string key) => PodJson.Metadata(pod, "annotations", key);

        plan.AppName = AppNameOf(pod);
        plan.HasTrafficLabel = PodJson.Metadata(pod, "labels", TrafficLabel) is not null;
        plan.DisabledPlugins = plan.ParsePlugins(annotation(PluginsDisabledAnnotation), options.DisabledPlugins);
        plan.RulesConfigMap = plan.ParseRules(annotation(RulesAnnotation));
        if (plan.LosslessEnabled)
        {
            plan.DrainDelay = plan.ParseDuration(DrainDelayAnnotation, annotation(DrainDelayAnnotation));
            plan.ShutdownTimeout = plan.ParseDuration(ShutdownTimeoutAnnotation, annotation(ShutdownTimeoutAnnotation));
            plan.CheckGracePeriod(pod);
        }

        plan.Containers = plan.SelectContainers(pod, annotation(ContainersAnnotation));
        plan.ProbePorts = plan.AssignProbePorts(pod);
        return plan;
    }

    private List<string> SelectContainers(JsonObject pod, string? named)
    {
        var containers = PodJson.Objects(pod["spec"] as JsonObject, "containers").ToList();
        var candidates = containers;
        if (named is not null)
        {
            var wanted = InjectorOptions.SplitList(named);
            foreach (var missing in wanted.Where(name => containers.All(c => PodJson.String(c, "name") != name)))
                Warnings.Add($"governor: container '{missing}' named in {ContainersAnnotation} does not exist");
            candidates = containers.Where(c => wanted.Contains(PodJson.String(c, "name") ?? "")).ToList();
        }

        var selected = new List<string>();
        foreach (var container in candidates)
        {
            var name = PodJson.String(container, "name") ?? "";
            var hooks = PodJson.FindByName(container, "env", StartupHooksEnv);
            if (hooks?["valueFrom"] is not null)
            {
                // The value is only known to the kubelet; appending to it is impossible and
                // replacing it would drop the app's own hooks.
                Warnings.Add($"governor: container '{name}' not injected: {StartupHooksEnv} is set from valueFrom");
                continue;
            }

            var mountedThere = PodJson.Objects(container, "volumeMounts")
                .FirstOrDefault(m => PodJson.String(m, "mountPath")?.TrimEnd('/') == AgentHome);
            if (mountedThere is not null && PodJson.String(mountedThere, "name") != AgentVolumeName)
            {
                Warnings.Add($"governor: container '{name}' not injected: {AgentHome} is already a mount");
                continue;
            }

            selected.Add(name);
        }

        return selected;
    }

    /// <summary>
    /// Containers of a pod share one network namespace, so two agents cannot both listen on the
    /// probe port: the first selected container gets the configured port and each further one
    /// the next port that no container declares. A port the container already sets through
    /// <see cref="ProbePortEnv"/> is kept (and is what its probe points at).
    /// </summary>
    private Dictionary<string, int> AssignProbePorts(JsonObject pod)
    {
        var spec = pod["spec"] as JsonObject;
        var all = PodJson.Objects(spec, "containers").Concat(PodJson.Objects(spec, "initContainers")).ToList();
        var used = all.SelectMany(c => PodJson.Objects(c, "ports"))
            .Select(p => p["containerPort"] is JsonValue v && v.TryGetValue<int>(out var port) ? port : 0)
            .ToHashSet();

        var ports = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in Containers)
        {
            var container = PodJson.FindByName(spec, "containers", name);
            var explicitPort = PodJson.String(PodJson.FindByName(container, "env", ProbePortEnv), "value");
            if (int.TryParse(explicitPort, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
            {
                ports[name] = port;
                used.Add(port);
            }
        }

        var next = Options.ProbePort;
        foreach (var name in Containers.Where(n => !ports.ContainsKey(n)))
        {
            while (used.Contains(next))
                next++;
            ports[name] = next;
            used.Add(next);
        }

        return ports;
    }

    private List<string> ParsePlugins(string? annotation, IReadOnlyList<string> defaults)
    {
        // The annotation replaces the chart's default list, so a pod can also re-enable a plugin.
        var names = annotation is null ? defaults : InjectorOptions.SplitList(annotation);
        var result = new List<string>();
        foreach (var raw in names)
        {
            var name = raw.ToLowerInvariant();
            if (PluginNamePattern().IsMatch(name))
            {
                if (!result.Contains(name))
                    result.Add(name);
            }
            else
            {
                Warnings.Add($"governor: ignored plugin name '{raw}' in {PluginsDisabledAnnotation}");
            }
        }

        return result;
    }

    private string? ParseRules(string? name)
    {
        if (name is null)
            return null;
        name = name.Trim();
        if (name.Length <= 253 && DnsSubdomainPattern().IsMatch(name))
            return name;
        // Mounting it would make the API server reject the whole pod.
        Warnings.Add($"governor: {RulesAnnotation} '{name}' is not a valid ConfigMap name; rules not mounted");
        return null;
    }

    private string? ParseDuration(string annotationKey, string? value)
    {
        if (value is null)
            return null;
        value = value.Trim();
        if (TryParseDuration(value, out _))
            return value;
        Warnings.Add($"governor: {annotationKey} '{value}' is not a duration like 5s, 500ms or 1m; the plugin default is used");
        return null;
    }

    private void CheckGracePeriod(JsonObject pod)
    {
        var grace = pod["spec"]?["terminationGracePeriodSeconds"] is JsonValue v && v.TryGetValue<long>(out var seconds)
            ? seconds
            : DefaultTerminationGracePeriodSeconds;
        var drain = DrainDelay is not null && TryParseDuration(DrainDelay, out var d) ? d : DefaultDrainDelay;
        var shutdown = ShutdownTimeout is not null && TryParseDuration(ShutdownTimeout, out var s) ? s : DefaultShutdownTimeout;
        var needed = drain + shutdown + StopSlack;
        if (TimeSpan.FromSeconds(grace) < needed)
        {
            Warnings.Add(string.Create(CultureInfo.InvariantCulture,
                $"governor: terminationGracePeriodSeconds {grace} < drain {drain.TotalSeconds}s + shutdown {shutdown.TotalSeconds}s + {StopSlack.TotalSeconds}s; requests may be cut. Use >= {Math.Ceiling(needed.TotalSeconds)}"));
        }
    }

    /// <summary>The same forms the agent's settings accept: 500ms, 2s, 1m, 1h or plain seconds.</summary>
    internal static bool TryParseDuration(string value, out TimeSpan duration)
    {
        duration = default;
        var match = DurationPattern().Match(value);
        if (!match.Success || !double.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            return false;
        duration = match.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(number),
            "m" => TimeSpan.FromMinutes(number),
            "h" => TimeSpan.FromHours(number),
            _ => TimeSpan.FromSeconds(number),
        };
        return true;
    }

    /// <summary>
    /// The app's name: a well-known label, else the stem of the pod's name. Pods made by a
    /// controller usually have no name yet at admission (it is generated afterwards from
    /// generateName, e.g. "shop-api-7d9f8b6c5-"), so the controller's suffixes are removed.
    /// </summary>
    internal static string AppNameOf(JsonObject pod)
    {
        foreach (var label in AppNameLabels)
        {
            if (PodJson.Metadata(pod, "labels", label) is { Length: > 0 } value)
                return value;
        }

        var metadata = pod["metadata"] as JsonObject;
        var stem = PodJson.String(metadata, "generateName")?.TrimEnd('-');
        if (!string.IsNullOrEmpty(stem))
        {
            // A Deployment's ReplicaSet adds "-<pod-template-hash>".
            if (PodJson.Metadata(pod, "labels", "pod-template-hash") is { Length: > 0 } hash && stem.EndsWith("-" + hash, StringComparison.Ordinal))
                stem = stem[..^(hash.Length + 1)];
            return stem;
        }

        var name = PodJson.String(metadata, "name");
        if (!string.IsNullOrEmpty(name))
        {
            // A StatefulSet names its pods "<set>-<ordinal>".
            var ordinal = OrdinalSuffixPattern().Match(name);
            return ordinal.Success && PodJson.Metadata(pod, "labels", "statefulset.kubernetes.io/pod-name") == name
                ? name[..ordinal.Index]
                : name;
        }

        return PodJson.String(PodJson.Objects(pod["spec"] as JsonObject, "containers").FirstOrDefault(), "name") ?? "app";
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex PluginNamePattern();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomainPattern();

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$")]
    private static partial Regex DurationPattern();

    [GeneratedRegex("-[0-9]+$")]
    private static partial Regex OrdinalSuffixPattern();
}
