using Governor.Rules;

namespace Governor.Core.Rules;

/// <summary>The rule kinds known now: owned by loaded plugins or the core, and the kinds of disabled plugins.</summary>
internal sealed class RuleKindRegistry
{
    private readonly Dictionary<string, RuleKind> _byKind;

    public RuleKindRegistry(IEnumerable<RuleKind> kinds, IReadOnlyDictionary<string, string>? inactiveKinds = null)
    {
        _byKind = new Dictionary<string, RuleKind>(StringComparer.Ordinal);
        foreach (var kind in kinds)
        {
            _byKind.TryAdd(kind.Kind, kind);
        }

        InactiveKinds = inactiveKinds ?? new Dictionary<string, string>();
    }

    public static RuleKindRegistry CoreOnly { get; } = new(CoreRuleKinds.All);

    /// <summary>Kind name → the plugin that owns it but is not running (documents are kept aside, not errors).</summary>
    public IReadOnlyDictionary<string, string> InactiveKinds { get; }

    public IEnumerable<RuleKind> Kinds => _byKind.Values;

    public RuleKind? Find(string kind) => _byKind.TryGetValue(kind, out var k) ? k : null;
}

/// <summary>Kinds the core owns because several plugins read them.</summary>
internal static class CoreRuleKinds
{
    public static IReadOnlyList<RuleKind> All { get; } = Create();

    private static RuleKind[] Create()
    {
        var kinds = new[] { Governor.Rules.OpenSergo.FaultToleranceRuleSpec.Kind };
        foreach (var k in kinds)
        {
            k.Owner = "core";
        }

        return kinds;
    }
}

/// <summary>Validates the documents of one file against the known kinds.</summary>
internal static class RuleValidator
{
    /// <summary>The result for one file: its valid documents (only when it has no error) and its problems.</summary>
    public sealed record FileResult(IReadOnlyList<RuleDocument> Documents, IReadOnlyList<RuleError> Errors, IReadOnlyList<string> Notes);

    /// <summary>A file read and parsed, not yet validated (parsing needs no knowledge of kinds, so it can run early, in parallel).</summary>
    public sealed record ParsedFile(string File, byte[] Bytes, IReadOnlyList<RuleNode> Roots, IReadOnlyList<RuleError> SyntaxErrors);

    public static ParsedFile Parse(string file, byte[] bytes)
    {
        var errors = new List<RuleError>();
        var roots = RuleFileParser.Parse(file, System.Text.Encoding.UTF8.GetString(bytes), errors);
        return new ParsedFile(file, bytes, roots, errors);
    }

    public static FileResult ValidateFile(string file, string text, RuleKindRegistry kinds) =>
        Validate(Parse(file, System.Text.Encoding.UTF8.GetBytes(text)), kinds);

    public static FileResult Validate(ParsedFile parsed, RuleKindRegistry kinds)
    {
        string file = parsed.File;
        var errors = new List<RuleError>(parsed.SyntaxErrors);
        var notes = new List<string>();
        var roots = parsed.Roots;
        var documents = new List<RuleDocument>();
        int index = 0;
        foreach (var root in Expand(roots))
        {
            var doc = ValidateDocument(file, index, root, kinds, errors, notes);
            if (doc is not null)
            {
                documents.Add(doc);
            }

            index++;
        }

        // A file is taken whole or not at all, so a half-edited file never half-applies.
        return errors.Count == 0 ? new FileResult(documents, errors, notes) : new FileResult(Array.Empty<RuleDocument>(), errors, notes);
    }

    // A JSON array of documents and a Kubernetes "kind: List" are read as their items.
    private static IEnumerable<RuleNode> Expand(IEnumerable<RuleNode> roots)
    {
        foreach (var root in roots)
        {
            if (root.Kind == RuleNodeKind.Sequence)
            {
                foreach (var item in root.Items)
                {
                    yield return item;
                }
            }
            else if (root.Kind == RuleNodeKind.Mapping && root.Get("kind")?.Value == "List" && root.Get("items") is { Kind: RuleNodeKind.Sequence } items)
            {
                foreach (var item in items.Items)
                {
                    yield return item;
                }
            }
            else
            {
                yield return root;
            }
        }
    }

    private static RuleDocument? ValidateDocument(string file, int index, RuleNode root, RuleKindRegistry kinds, List<RuleError> errors, List<string> notes)
    {
        int before = errors.Count;
        var top = new SpecReader(root, string.Empty, file, index, errors);
        if (root.Kind != RuleNodeKind.Mapping)
        {
            return null;
        }

        string? apiVersion = top.String("apiVersion", required: true);
        string? kindName = top.String("kind", required: true);
        top.Ignore("status");

        string name = string.Empty;
        string? ns = null;
        IReadOnlyDictionary<string, string> labels = new Dictionary<string, string>();
        var metadata = top.Object("metadata", required: true);
        if (metadata is not null)
        {
            name = metadata.String("name", required: true) ?? string.Empty;
            if (metadata.Has("name") && name.Length == 0)
            {
                metadata.Error("name", "must not be empty");
            }

            ns = metadata.String("namespace");
            labels = metadata.StringMap("labels");
            metadata.StringMap("annotations");
            metadata.Ignore("uid");
            metadata.Ignore("resourceVersion");
            metadata.Ignore("generation");
            metadata.Ignore("creationTimestamp");
            metadata.Ignore("managedFields");
            metadata.End();
        }

        RuleKind? kind = null;
        if (kindName is not null)
        {
            kind = kinds.Find(kindName);
            if (kind is null)
            {
                if (kinds.InactiveKinds.TryGetValue(kindName, out string? owner))
                {
                    notes.Add($"{file}: document {index} ({kindName}/{name}) is for plugin '{owner}', which is not running; it is kept aside.");
                    top.Ignore("spec");
                    top.End();
                    return null;
                }

                string known = string.Join(", ", kinds.Kinds.Select(k => k.Kind).Concat(kinds.InactiveKinds.Keys).Distinct().OrderBy(k => k, StringComparer.Ordinal));
                top.Error("kind", $"unknown kind '{kindName}'; no plugin owns it. Known kinds: {known}");
            }
        }

        if (kind is not null && apiVersion is not null)
        {
            int slash = apiVersion.LastIndexOf('/');
            string group = slash > 0 ? apiVersion[..slash] : string.Empty;
            string version = slash > 0 ? apiVersion[(slash + 1)..] : apiVersion;
            if (!string.Equals(group, kind.Group, StringComparison.Ordinal))
            {
                top.Error("apiVersion", $"'{apiVersion}' does not match kind {kind.Kind}; use {kind.Group}/{kind.Versions[^1]}");
            }
            else if (!kind.Versions.Contains(version, StringComparer.Ordinal))
            {
                top.Error("apiVersion", $"version '{version}' of {kind.Kind} is not supported; use one of: {string.Join(", ", kind.Versions)}");
            }
        }

        object? spec = null;
        if (kind is not null)
        {
            var specReader = top.Object("spec", required: true);
            if (specReader is not null)
            {
                try
                {
                    spec = kind.Parse(specReader);
                }
                catch (Exception ex)
                {
                    // A parser bug must not take the rule store down; report it like bad input.
                    specReader.Error(null, $"could not be read by plugin '{kind.Owner}': {ex.Message}");
                }
            }
        }
        else
        {
            top.Ignore("spec");
        }

        top.End();
        if (errors.Count != before || kind is null || kindName is null || apiVersion is null || spec is null)
        {
            return null;
        }

        return new RuleDocument(file, index, root.Line, apiVersion, kindName, name, ns, labels, spec);
    }
}
