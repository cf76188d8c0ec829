using System.Text.Json.Nodes;
using static Governor.Injector.InjectionConventions;

namespace Governor.Injector.Mutation;

/// <summary>
/// One step of the injection. A mutator changes the pod copy in place and must be idempotent:
/// run on its own output it changes nothing, so a pod that lost the marker annotation (or is
/// reinvoked) never gets a second init container, volume or env entry.
/// </summary>
internal interface IPodMutator
{
    void Mutate(JsonObject pod, InjectionPlan plan);
}

/// <summary>The emptyDir the init container fills and the app containers read.</summary>
internal sealed class AgentVolumeMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        var spec = PodJson.Object(pod, "spec");
        if (PodJson.FindByName(spec, "volumes", AgentVolumeName) is not null)
            return;
        PodJson.Array(spec, "volumes").Add(new JsonObject
        {
            ["name"] = AgentVolumeName,
            ["emptyDir"] = new JsonObject { ["sizeLimit"] = plan.Options.AgentVolumeSizeLimit },
        });
    }
}

/// <summary>The writable emptyDir for the agent's log and status files.</summary>
internal sealed class LogVolumeMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        var spec = PodJson.Object(pod, "spec");
        if (PodJson.FindByName(spec, "volumes", LogVolumeName) is not null)
            return;
        PodJson.Array(spec, "volumes").Add(new JsonObject
        {
            ["name"] = LogVolumeName,
            ["emptyDir"] = new JsonObject { ["sizeLimit"] = DefaultLogVolumeSizeLimit },
        });
    }
}

/// <summary>
/// The rules ConfigMap named by the pod. Optional, so that a missing or misspelt ConfigMap
/// leaves the app starting with no rules instead of stuck in ContainerCreating.
/// </summary>
internal sealed class RulesVolumeMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        if (plan.RulesConfigMap is null)
            return;
        var spec = PodJson.Object(pod, "spec");
        if (PodJson.FindByName(spec, "volumes", RulesVolumeName) is not null)
            return;
        PodJson.Array(spec, "volumes").Add(new JsonObject
        {
            ["name"] = RulesVolumeName,
            ["configMap"] = new JsonObject { ["name"] = plan.RulesConfigMap, ["optional"] = true },
        });
    }
}

/// <summary>
/// Copies the agent home from the agent image into the emptyDir. Appended after the pod's own
/// init containers: none of them needs the agent, and appending keeps the patch a plain add.
/// No runAsUser: the image's numeric USER satisfies runAsNonRoot, and platforms that assign
/// their own UIDs (OpenShift) would reject a fixed one.
/// </summary>
internal sealed class InitContainerMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        var spec = PodJson.Object(pod, "spec");
        if (PodJson.FindByName(spec, "initContainers", InitContainerName) is not null)
            return;
        var options = plan.Options;
        PodJson.Array(spec, "initContainers").Add(new JsonObject
        {
            ["name"] = InitContainerName,
            ["image"] = options.AgentImage,
            ["imagePullPolicy"] = options.AgentImagePullPolicy,
            ["command"] = new JsonArray("cp", "-R", AgentHome + "/.", InitTargetPath + "/"),
            ["resources"] = new JsonObject
            {
                ["requests"] = new JsonObject { ["cpu"] = options.InitCpuRequest, ["memory"] = options.InitMemoryRequest },
                ["limits"] = new JsonObject { ["cpu"] = options.InitCpuLimit, ["memory"] = options.InitMemoryLimit },
            },
            ["securityContext"] = new JsonObject
            {
                ["runAsNonRoot"] = true,
                ["allowPrivilegeEscalation"] = false,
                ["readOnlyRootFilesystem"] = true,
                ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
                ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
            },
            ["terminationMessagePolicy"] = "FallbackToLogsOnError",
            ["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = AgentVolumeName, ["mountPath"] = InitTargetPath }),
        });
    }
}

/// <summary>The agent home (read-only), the log folder (writable) and, when named, the rules in each selected container.</summary>
internal sealed class ContainerMountsMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        foreach (var container in Selected(pod, plan))
        {
            var mounts = PodJson.Objects(container, "volumeMounts").ToList();
            if (mounts.All(m => PodJson.String(m, "name") != AgentVolumeName))
            {
                PodJson.Array(container, "volumeMounts").Add(new JsonObject
                {
                    ["name"] = AgentVolumeName,
                    ["mountPath"] = AgentHome,
                    ["readOnly"] = true,
                });
            }

            // A container that already mounts something at the log path keeps it; the agent logs there.
            if (mounts.All(m => PodJson.String(m, "name") != LogVolumeName && PodJson.String(m, "mountPath")?.TrimEnd('/') != LogMountPath))
            {
                PodJson.Array(container, "volumeMounts").Add(new JsonObject
                {
                    ["name"] = LogVolumeName,
                    ["mountPath"] = LogMountPath,
                });
            }

            if (plan.RulesConfigMap is null || mounts.Any(m => PodJson.String(m, "name") == RulesVolumeName))
                continue;
            if (mounts.Any(m => PodJson.String(m, "mountPath")?.TrimEnd('/') == RulesMountPath))
            {
                plan.Warnings.Add($"governor: container '{PodJson.String(container, "name")}': {RulesMountPath} is already a mount; rules not mounted");
                continue;
            }

            PodJson.Array(container, "volumeMounts").Add(new JsonObject
            {
                ["name"] = RulesVolumeName,
                ["mountPath"] = RulesMountPath,
                ["readOnly"] = true,
            });
        }
    }

    internal static IEnumerable<JsonObject> Selected(JsonObject pod, InjectionPlan plan) =>
        plan.Containers.Select(name => PodJson.FindByName(pod["spec"] as JsonObject, "containers", name)!);
}

/// <summary>
/// The environment that attaches and configures the agent. A variable the container already
/// sets is left as it is (the user's value wins), except DOTNET_STARTUP_HOOKS, which is
/// extended so that the app's own hooks keep running.
/// </summary>
internal sealed class ContainerEnvMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        foreach (var container in ContainerMountsMutator.Selected(pod, plan))
        {
            var env = PodJson.Array(container, "env");
            AddStartupHook(env);

            void Add(string name, JsonObject entry)
            {
                if (env.OfType<JsonObject>().All(e => PodJson.String(e, "name") != name))
                    env.Add(entry);
            }

            Add(HomeEnv, PodJson.Env(HomeEnv, AgentHome));
            Add(AppEnv, PodJson.Env(AppEnv, plan.AppName));
            if (plan.HasTrafficLabel)
            {
                // Through the downward API, so a relabelled pod's tag follows the label.
                Add(TagEnv, new JsonObject
                {
                    ["name"] = TagEnv,
                    ["valueFrom"] = new JsonObject
                    {
                        ["fieldRef"] = new JsonObject
                        {
                            ["apiVersion"] = "v1",
                            ["fieldPath"] = $"metadata.labels['{TrafficLabel}']",
                        },
                    },
                });
            }

            if (plan.DisabledPlugins.Count > 0)
                Add(PluginsDisabledEnv, PodJson.Env(PluginsDisabledEnv, string.Join(',', plan.DisabledPlugins)));
            if (plan.RulesConfigMap is not null && PodJson.Objects(container, "volumeMounts").Any(m => PodJson.String(m, "name") == RulesVolumeName))
                Add(RulesDirEnv, PodJson.Env(RulesDirEnv, RulesMountPath));
            Add(LogDirEnv, PodJson.Env(LogDirEnv, LogMountPath));
            Add(ProbePortEnv, PodJson.Env(ProbePortEnv, plan.ProbePorts[PodJson.String(container, "name")!].ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (plan.DrainDelay is not null)
                Add(DrainDelayEnv, PodJson.Env(DrainDelayEnv, plan.DrainDelay));
            if (plan.ShutdownTimeout is not null)
                Add(ShutdownTimeoutEnv, PodJson.Env(ShutdownTimeoutEnv, plan.ShutdownTimeout));
            foreach (var group in PluginRuntimeSettings.Where(s => plan.IsPluginEnabled(s.Plugin)).GroupBy(s => s.Name))
                AddRuntimeSetting(env, group.Key, group.Select(s => s.Value));
        }
    }

    // A list variable (DOTNET_ReadyToRunExcludeList) is merged: the plugins' names are joined, and a
    // literal value the container sets keeps its own names and gains the missing ones.
    private static void AddRuntimeSetting(JsonArray env, string name, IEnumerable<string> values)
    {
        char separator = ListVariables.TryGetValue(name, out char s) ? s : '\0';
        var wanted = separator == '\0' ? values.Take(1).ToList() : values.SelectMany(v => v.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal).ToList();
        var existing = env.OfType<JsonObject>().FirstOrDefault(e => PodJson.String(e, "name") == name);
        if (existing is null)
        {
            env.Add(PodJson.Env(name, string.Join(separator == '\0' ? "" : separator.ToString(), wanted)));
            return;
        }

        if (separator == '\0' || existing["valueFrom"] is not null)
            return;
        string value = PodJson.String(existing, "value") ?? "";
        // The runtime also accepts spaces between names; compare on the names, not the text.
        var present = value.Split(new[] { separator, ' ' }, StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var missing = wanted.Where(w => !present.Contains(w)).ToList();
        if (missing.Count > 0)
            existing["value"] = value.Length == 0 ? string.Join(separator, missing) : value + separator + string.Join(separator, missing);
    }

    private static void AddStartupHook(JsonArray env)
    {
        var existing = env.OfType<JsonObject>().FirstOrDefault(e => PodJson.String(e, "name") == StartupHooksEnv);
        if (existing is null)
        {
            env.Add(PodJson.Env(StartupHooksEnv, StartupHookPath));
            return;
        }

        // valueFrom was filtered out by the plan; here the value is a literal (or absent).
        var value = PodJson.String(existing, "value") ?? "";
        if (value.Contains(StartupHookFileName, StringComparison.Ordinal))
            return;
        // ':' is the runtime's path separator on Linux, where these pods run.
        existing["value"] = value.Length == 0 ? StartupHookPath : value + ":" + StartupHookPath;
    }
}

/// <summary>
/// Points a container with no readinessProbe at the agent's readiness endpoint, so the pod
/// joins the Service only once the app has started and warmed up, and leaves it as soon as a
/// drain begins. Only when the lossless plugin (which serves the endpoint) is enabled: a probe
/// at a port nobody serves would keep the pod unready forever.
/// </summary>
internal sealed class ReadinessProbeMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        if (!plan.LosslessEnabled)
            return;
        foreach (var container in ContainerMountsMutator.Selected(pod, plan))
        {
            if (container["readinessProbe"] is not null)
                continue;
            container["readinessProbe"] = new JsonObject
            {
                ["httpGet"] = new JsonObject
                {
                    ["path"] = ReadinessPath,
                    ["port"] = plan.ProbePorts[PodJson.String(container, "name")!],
                    ["scheme"] = "HTTP",
                },
                ["periodSeconds"] = 2,
                ["timeoutSeconds"] = 1,
                ["successThreshold"] = 1,
                ["failureThreshold"] = 2,
            };
        }
    }
}

/// <summary>Marks the pod so that a reinvocation (reinvocationPolicy: IfNeeded) leaves it alone.</summary>
internal sealed class MarkerMutator : IPodMutator
{
    public void Mutate(JsonObject pod, InjectionPlan plan)
    {
        var annotations = PodJson.Object(PodJson.Object(pod, "metadata"), "annotations");
        annotations[InjectedAnnotation] = InjectionConventions.Version;
    }
}
