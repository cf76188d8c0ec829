using System.Text.Json.Nodes;
using static Governor.Injector.InjectionConventions;

namespace Governor.Injector.Mutation;

/// <summary>The outcome for one pod: a patch (empty when skipped), why, and user-facing warnings.</summary>
internal sealed record InjectionResult(string Outcome, string Reason, JsonArray Patch, IReadOnlyList<string> Warnings, IReadOnlyList<string> Containers)
{
    public const string Injected = "injected";
    public const string Skipped = "skipped";

    public static InjectionResult Skip(string reason, IReadOnlyList<string>? warnings = null) =>
        new(Skipped, reason, [], warnings ?? [], []);
}

/// <summary>
/// Decides whether a pod gets the agent and, if so, runs the mutator chain on a copy of it and
/// returns the diff. The namespace label and the pod label opt-in are evaluated by the API server
/// (namespaceSelector/objectSelector), which never calls us otherwise; what selectors cannot
/// express (annotations, excluded namespaces as a safety net, already-injected pods) is checked here.
/// </summary>
internal sealed class PodInjector(InjectorOptions options)
{
    // Order matters only for readability of the patch: volumes, init container, then containers.
    private static readonly IPodMutator[] Chain =
    [
        new AgentVolumeMutator(),
        new LogVolumeMutator(),
        new RulesVolumeMutator(),
        new InitContainerMutator(),
        new ContainerMountsMutator(),
        new ContainerEnvMutator(),
        new ReadinessProbeMutator(),
        new MarkerMutator(),
    ];

    private readonly HashSet<string> _excludedNamespaces = [.. options.AllExcludedNamespaces];

    public InjectionResult Inject(JsonObject pod, string? requestNamespace)
    {
        // On CREATE the object often has no namespace yet; the request always names it.
        var ns = string.IsNullOrEmpty(requestNamespace) ? PodJson.String(pod["metadata"] as JsonObject, "namespace") : requestNamespace;
        if (ns is not null && _excludedNamespaces.Contains(ns))
            return InjectionResult.Skip("excluded-namespace");
        if (IsFalse(PodJson.Metadata(pod, "labels", InjectKey)) || IsFalse(PodJson.Metadata(pod, "annotations", InjectKey)))
            return InjectionResult.Skip("opted-out");
        if (PodJson.Metadata(pod, "annotations", InjectedAnnotation) is not null)
            return InjectionResult.Skip("already-injected");
        if (PodJson.String(pod["spec"]?["os"] as JsonObject, "name") == "windows")
            return InjectionResult.Skip("windows-pod", ["governor: Windows pods are not injected"]);

        var plan = InjectionPlan.Create(pod, options);
        if (plan.Containers.Count == 0)
            return InjectionResult.Skip("no-eligible-container", plan.Warnings);

        var mutated = pod.DeepClone().AsObject();
        foreach (var mutator in Chain)
            mutator.Mutate(mutated, plan);
        return new InjectionResult(InjectionResult.Injected, "injected", JsonPatchDiff.Create(pod, mutated), plan.Warnings, plan.Containers);
    }

    private static bool IsFalse(string? value) => string.Equals(value?.Trim(), "false", StringComparison.OrdinalIgnoreCase);
}
