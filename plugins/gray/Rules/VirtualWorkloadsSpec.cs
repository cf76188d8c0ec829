using Governor.Plugins.Gray.Labeling;
using Governor.Rules;

namespace Governor.Plugins.Gray.Rules;

/// <summary>An instance address from a rule: a host and an optional port (-1: the port of the call).</summary>
internal sealed record Endpoint(string Host, string AuthorityHost, int Port)
{
    /// <summary>Reads "host:port", "host", "[::1]:8080" or "http://host:port"; null when it is not an address.</summary>
    public static Endpoint? TryParse(string text)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            return null;
        }

        bool hasScheme = text.Contains("://", StringComparison.Ordinal);
        if (!Uri.TryCreate(hasScheme ? text : "http://" + text, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https")
            || uri.AbsolutePath != "/" || uri.Query.Length != 0 || uri.Fragment.Length != 0 || uri.UserInfo.Length != 0
            || (!hasScheme && text.EndsWith('/')))
        {
            return null;
        }

        // Without a scheme, a port is explicit only when written; "http://host" means port 80.
        bool explicitPort = hasScheme || !uri.IsDefaultPort || text.EndsWith(":80", StringComparison.Ordinal);
        return new Endpoint(uri.IdnHost, uri.Host, explicitPort ? uri.Port : -1);
    }

    public override string ToString() => Port < 0 ? AuthorityHost : $"{AuthorityHost}:{Port}";
}

/// <summary>One <c>spec.virtualWorkload[]</c> entry: the instances of one lane of the service.</summary>
internal sealed record VirtualWorkload(string Name, string? Label, IReadOnlyList<Endpoint> Targets, bool Random);

/// <summary>
/// <c>traffic.opensergo.io/v1alpha1</c> <c>VirtualWorkloads</c>, in OpenSergo's shape: the lanes of
/// one service (<c>selector.app</c>, the name callers use for it) and where each lane's instances
/// are. Every governed app reads every document of this kind: it describes the services they call.
/// A workload whose <c>selector.tag</c> is <c>_base</c> (or absent) is the base lane; a call to one
/// of its addresses, or to a host named like the service, is a call to this service.
/// </summary>
internal sealed class VirtualWorkloadsSpec
{
    public const string KindName = "VirtualWorkloads";

    private static readonly string[] s_types = { "address", "service" };
    private static readonly string[] s_balancers = { "roundRobin", "random" };

    public VirtualWorkloadsSpec(string service, IReadOnlyList<VirtualWorkload> workloads)
    {
        Service = service;
        Workloads = workloads;
    }

    public string Service { get; }

    public IReadOnlyList<VirtualWorkload> Workloads { get; }

    public static readonly RuleKind Kind = new(TrafficLabelRuleSpec.Group, KindName, new[] { "v1alpha1" }, Parse);

    private static object? Parse(SpecReader spec)
    {
        string? service = SelectorReader.App(spec, required: true);
        var workloads = new List<VirtualWorkload>();
        var lanes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var items = spec.Objects("virtualWorkload", required: true, minItems: 1);
        foreach (var w in items)
        {
            string? name = w.String("name", required: true);
            w.String("type", allowed: s_types);
            string? balancer = w.String("loadbalance", allowed: s_balancers);
            string? label = null;
            var selector = w.Object("selector");
            if (selector is not null)
            {
                label = selector.String("tag");
                selector.End();
            }

            if (label is null || label == LabelText.Base)
            {
                label = null;
            }
            else if (!LabelText.IsValid(label))
            {
                w.Error("selector", $"tag '{label}' is not a valid label; use 1 to {LabelText.MaxLength} letters, digits, '-', '_' or '.', or '{LabelText.Base}' for the base lane");
            }

            string laneKey = label ?? LabelText.Base;
            if (lanes.TryGetValue(laneKey, out string? first))
            {
                w.Error("selector", $"lane '{laneKey}' is already declared by workload '{first}'; list all its addresses in one target");
            }
            else
            {
                lanes[laneKey] = name ?? "?";
            }

            bool scalar = w.Node.Get("target") is { Kind: RuleNodeKind.Scalar };
            var targets = new List<Endpoint>();
            foreach (string item in w.Strings("target", required: true, minItems: 1))
            {
                foreach (string part in scalar ? item.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : new[] { item })
                {
                    if (Endpoint.TryParse(part) is { } endpoint)
                    {
                        targets.Add(endpoint);
                    }
                    else
                    {
                        w.Error("target", $"'{part}' is not an address; use host:port (127.0.0.1:8080), host (a Kubernetes Service name; the call's port is kept) or http://host:port");
                    }
                }
            }

            w.End();
            if (name is not null)
            {
                workloads.Add(new VirtualWorkload(name, label, targets, string.Equals(balancer, "random", StringComparison.Ordinal)));
            }
        }

        spec.End();
        return service is null || !spec.IsValid ? null : new VirtualWorkloadsSpec(service, workloads);
    }
}
