using Governor.Rules;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Governor.Core.Rules;

/// <summary>
/// Reads a rule file (multi-document YAML, or JSON, which YAML reads too) into <see cref="RuleNode"/>
/// trees that keep line numbers. Syntax errors become <see cref="RuleError"/>s with their line.
/// </summary>
internal static class RuleFileParser
{
    // The line of the last event read, for errors the scanner raises without a position.
    [ThreadStatic]
    private static int t_lastLine;

    public static IReadOnlyList<RuleNode> Parse(string file, string text, List<RuleError> errors)
    {
        var documents = new List<RuleNode>();
        try
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out _))
            {
                var anchors = new Dictionary<string, RuleNode>(StringComparer.Ordinal);
                var root = parser.Accept<DocumentEnd>(out _) ? null : ReadNode(parser, anchors, file, documents.Count, errors);
                parser.Consume<DocumentEnd>();
                if (root is not null && !root.IsNull)
                {
                    documents.Add(root);
                }
            }

            parser.Consume<StreamEnd>();
        }
        catch (YamlException ex)
        {
            errors.Add(new RuleError(file, documents.Count, (int)ex.Start.Line, string.Empty, $"syntax error: {Clean(ex)}"));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            // The YAML scanner throws these on some malformed input (e.g. an unclosed '[').
            errors.Add(new RuleError(file, documents.Count, t_lastLine, string.Empty, "syntax error: the YAML or JSON is malformed near here (an unclosed bracket or quote?)"));
        }

        return documents;
    }

    private static RuleNode ReadNode(IParser parser, Dictionary<string, RuleNode> anchors, string file, int document, List<RuleError> errors)
    {
        if (parser.Current is { } current)
        {
            t_lastLine = (int)current.Start.Line;
        }

        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (anchors.TryGetValue(alias.Value.Value, out var target))
            {
                return target;
            }

            throw new YamlException(alias.Start, alias.End, $"unknown alias *{alias.Value.Value}");
        }

        if (parser.TryConsume<Scalar>(out var scalar))
        {
            bool quoted = scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded;
            string? value = !quoted && scalar.Value is "" or "~" or "null" or "Null" or "NULL" ? null : scalar.Value;
            var node = RuleNode.Scalar(value, quoted, (int)scalar.Start.Line, (int)scalar.Start.Column);
            Remember(scalar.Anchor, node, anchors);
            return node;
        }

        if (parser.TryConsume<SequenceStart>(out var sequenceStart))
        {
            var items = new List<RuleNode>();
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                items.Add(ReadNode(parser, anchors, file, document, errors));
            }

            var node = RuleNode.Sequence(items, (int)sequenceStart.Start.Line, (int)sequenceStart.Start.Column);
            Remember(sequenceStart.Anchor, node, anchors);
            return node;
        }

        if (parser.TryConsume<MappingStart>(out var mappingStart))
        {
            var entries = new List<KeyValuePair<string, RuleNode>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var keyStart = parser.Current?.Start ?? mappingStart.Start;
                var key = ReadNode(parser, anchors, file, document, errors);
                var value = ReadNode(parser, anchors, file, document, errors);
                if (key.Kind != RuleNodeKind.Scalar || key.Value is null)
                {
                    errors.Add(new RuleError(file, document, (int)keyStart.Line, string.Empty, "mapping keys must be plain strings"));
                    continue;
                }

                if (!seen.Add(key.Value))
                {
                    errors.Add(new RuleError(file, document, key.Line, key.Value, $"duplicate key '{key.Value}'; keep one"));
                    continue;
                }

                entries.Add(new KeyValuePair<string, RuleNode>(key.Value, value));
            }

            var node = RuleNode.Mapping(entries, (int)mappingStart.Start.Line, (int)mappingStart.Start.Column);
            Remember(mappingStart.Anchor, node, anchors);
            return node;
        }

        var unexpected = parser.Current;
        throw new YamlException(unexpected?.Start ?? Mark.Empty, unexpected?.End ?? Mark.Empty, $"unexpected {unexpected?.GetType().Name ?? "end of input"}");
    }

    private static void Remember(AnchorName anchor, RuleNode node, Dictionary<string, RuleNode> anchors)
    {
        if (!anchor.IsEmpty)
        {
            anchors[anchor.Value] = node;
        }
    }

    // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (...): "; the line is reported separately.
    private static string Clean(YamlException ex)
    {
        string message = ex.InnerException?.Message ?? ex.Message;
        int cut = message.LastIndexOf("): ", StringComparison.Ordinal);
        return cut >= 0 && message.StartsWith("(Line", StringComparison.Ordinal) ? message[(cut + 3)..] : message;
    }
}
