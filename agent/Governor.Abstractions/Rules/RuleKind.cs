namespace Governor.Rules;

/// <summary>
/// A kind of rule document a plugin owns, e.g. <c>traffic.opensergo.io</c> / <c>TrafficLabelRule</c>.
/// </summary>
public sealed class RuleKind
{
    /// <param name="group">The API group, e.g. <c>fault-tolerance.opensergo.io</c>.</param>
    /// <param name="kind">The kind, e.g. <c>RateLimitStrategy</c>.</param>
    /// <param name="versions">Accepted versions, e.g. <c>v1alpha1</c>.</param>
    /// <param name="parse">
    /// Reads the document's <c>spec</c> and returns the typed spec; reports problems through the
    /// reader. It must not throw for bad input and must have no side effects.
    /// </param>
    public RuleKind(string group, string kind, IReadOnlyList<string> versions, Func<SpecReader, object?> parse)
    {
        Group = group;
        Kind = kind;
        Versions = versions;
        Parse = parse;
    }

    public string Group { get; }

    public string Kind { get; }

    public IReadOnlyList<string> Versions { get; }

    public Func<SpecReader, object?> Parse { get; }

    /// <summary>Set by the agent: the plugin (or "core") that owns this kind.</summary>
    public string Owner { get; internal set; } = string.Empty;

    public override string ToString() => $"{Group}/{Kind}";
}
