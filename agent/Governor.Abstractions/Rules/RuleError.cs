namespace Governor.Rules;

/// <summary>
/// A problem in a rule file: where it is (file, document index, line, field path) and what to do.
/// Printed as <c>file:line: path: message (document N)</c>.
/// </summary>
public sealed class RuleError
{
    public RuleError(string file, int documentIndex, int line, string path, string message)
    {
        File = file;
        DocumentIndex = documentIndex;
        Line = line;
        Path = path;
        Message = message;
    }

    public string File { get; }

    /// <summary>0-based index of the document in a multi-document file; -1 for the whole file.</summary>
    public int DocumentIndex { get; }

    /// <summary>1-based line, 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>The field path, e.g. <c>spec.strategies[0].threshold</c>; empty for the document.</summary>
    public string Path { get; }

    public string Message { get; }

    public override string ToString()
    {
        string where = Line > 0 ? $"{File}:{Line}" : File;
        string path = Path.Length > 0 ? $"{Path}: " : string.Empty;
        string doc = DocumentIndex >= 0 ? $" (document {DocumentIndex})" : string.Empty;
        return $"{where}: {path}{Message}{doc}";
    }
}
