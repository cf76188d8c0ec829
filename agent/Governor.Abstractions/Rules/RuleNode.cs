namespace Governor.Rules;

public enum RuleNodeKind
{
    Scalar,
    Mapping,
    Sequence,
}

/// <summary>
/// One node of a rule document as read from YAML or JSON, with the line and column it came
/// from so that every validation error can point at its place in the file.
/// </summary>
public sealed class RuleNode
{
    private RuleNode(RuleNodeKind kind, string? value, bool quoted, IReadOnlyList<KeyValuePair<string, RuleNode>>? entries, IReadOnlyList<RuleNode>? items, int line, int column)
    {
        Kind = kind;
        Value = value;
        IsQuoted = quoted;
        Entries = entries ?? Array.Empty<KeyValuePair<string, RuleNode>>();
        Items = items ?? Array.Empty<RuleNode>();
        Line = line;
        Column = column;
    }

    public RuleNodeKind Kind { get; }

    /// <summary>The text of a scalar; null for mappings, sequences and YAML/JSON null.</summary>
    public string? Value { get; }

    /// <summary>True when the scalar was quoted in the source (so "1" is a string, not a number).</summary>
    public bool IsQuoted { get; }

    /// <summary>A mapping's entries, in source order.</summary>
    public IReadOnlyList<KeyValuePair<string, RuleNode>> Entries { get; }

    /// <summary>A sequence's items.</summary>
    public IReadOnlyList<RuleNode> Items { get; }

    public int Line { get; }

    public int Column { get; }

    public bool IsNull => Kind == RuleNodeKind.Scalar && Value is null;

    public static RuleNode Scalar(string? value, bool quoted, int line, int column) => new(RuleNodeKind.Scalar, value, quoted, null, null, line, column);

    public static RuleNode Mapping(IReadOnlyList<KeyValuePair<string, RuleNode>> entries, int line, int column) => new(RuleNodeKind.Mapping, null, false, entries, null, line, column);

    public static RuleNode Sequence(IReadOnlyList<RuleNode> items, int line, int column) => new(RuleNodeKind.Sequence, null, false, null, items, line, column);

    /// <summary>The value under <paramref name="key"/> in a mapping (exact match), or null.</summary>
    public RuleNode? Get(string key)
    {
        foreach (var entry in Entries)
        {
            if (string.Equals(entry.Key, key, StringComparison.Ordinal))
            {
                return entry.Value;
            }
        }

        return null;
    }

    public string Describe() => Kind switch
    {
        RuleNodeKind.Mapping => "an object",
        RuleNodeKind.Sequence => "a list",
        _ => Value is null ? "null" : $"'{Value}'",
    };
}
