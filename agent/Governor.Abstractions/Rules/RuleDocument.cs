namespace Governor.Rules;

/// <summary>One validated rule document.</summary>
public sealed class RuleDocument
{
    public RuleDocument(string file, int index, int line, string apiVersion, string kind, string name, string? @namespace, IReadOnlyDictionary<string, string> labels, object spec)
    {
        File = file;
        Index = index;
        Line = line;
        ApiVersion = apiVersion;
        Kind = kind;
        Name = name;
        Namespace = @namespace;
        Labels = labels;
        Spec = spec;
    }

    public string File { get; }

    public int Index { get; }

    public int Line { get; }

    public string ApiVersion { get; }

    public string Kind { get; }

    /// <summary><c>metadata.name</c>.</summary>
    public string Name { get; }

    public string? Namespace { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    /// <summary>The typed spec produced by the owning <see cref="RuleKind"/>.</summary>
    public object Spec { get; }

    public override string ToString() => $"{Kind}/{Name} ({System.IO.Path.GetFileName(File)}#{Index})";
}

/// <summary>An immutable snapshot of every valid rule; readers never lock.</summary>
public sealed class RuleSet
{
    public static readonly RuleSet Empty = new(0, Array.Empty<RuleDocument>());

    private readonly Dictionary<string, RuleDocument[]> _byKind;

    public RuleSet(long version, IReadOnlyList<RuleDocument> documents)
    {
        Version = version;
        Documents = documents;
        _byKind = documents.GroupBy(d => d.Kind, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
    }

    /// <summary>Increases with every change.</summary>
    public long Version { get; }

    public IReadOnlyList<RuleDocument> Documents { get; }

    public IReadOnlyList<RuleDocument> OfKind(string kind) => _byKind.TryGetValue(kind, out var docs) ? docs : Array.Empty<RuleDocument>();

    /// <summary>The typed specs of one kind, with their documents.</summary>
    public IEnumerable<(RuleDocument Document, T Spec)> Specs<T>(string kind)
        where T : class
    {
        foreach (var doc in OfKind(kind))
        {
            if (doc.Spec is T spec)
            {
                yield return (doc, spec);
            }
        }
    }

    /// <summary>Finds a document of a kind by <c>metadata.name</c>.</summary>
    public RuleDocument? Find(string kind, string name)
    {
        foreach (var doc in OfKind(kind))
        {
            if (string.Equals(doc.Name, name, StringComparison.Ordinal))
            {
                return doc;
            }
        }

        return null;
    }
}

/// <summary>The rules as a plugin sees them.</summary>
public interface IRuleSource
{
    /// <summary>The current snapshot. Cheap: a volatile read.</summary>
    RuleSet Current { get; }

    /// <summary>
    /// Raised on an agent thread after the rules changed (a file was added, changed or removed
    /// and validated). Handlers build their compiled state and publish it with a volatile write.
    /// An exception in a handler is logged and does not stop other handlers.
    /// </summary>
    event Action<RuleSet>? Changed;

    /// <summary>Problems found in the current rule files (the last good rules stay in force).</summary>
    IReadOnlyList<RuleError> Errors { get; }
}
