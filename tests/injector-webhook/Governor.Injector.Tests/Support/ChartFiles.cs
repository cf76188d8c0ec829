using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Governor.Injector.Tests.Support;

/// <summary>
/// Reads charts/governor without helm: plain YAML and JSON as they are, Go templates checked
/// structurally and parsed as YAML once every template action is neutralised (an action alone
/// on a line is dropped, an inline one becomes the scalar TEMPLATE). Both branches of an
/// if/else are kept, so templates are written to stay valid YAML that way.
/// </summary>
internal static partial class ChartFiles
{
    public const string Placeholder = "TEMPLATE";

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string ChartDirectory => Path.Combine(RepoRoot, "charts", "governor");

    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(ChartDirectory, relativePath));

    public static JsonNode? ReadYaml(string relativePath) => YamlToJson(Read(relativePath)).Single();

    public static IEnumerable<string> Templates() =>
        Directory.EnumerateFiles(Path.Combine(ChartDirectory, "templates")).Order(StringComparer.Ordinal);

    /// <summary>The documents of a template, with its actions neutralised.</summary>
    public static List<JsonNode?> TemplateDocuments(string template) => YamlToJson(Neutralize(File.ReadAllText(template)));

    public static string WithoutComments(string template) => CommentAction().Replace(template, "");

    public static string Neutralize(string template)
    {
        var lines = WithoutComments(template).Split('\n')
            .Where(line => !ActionsOnlyLine().IsMatch(line))
            .Select(line => Action().Replace(line, Placeholder));
        return string.Join('\n', lines);
    }

    /// <summary>Every "{{" is closed by "}}" before the next opens, and blocks are closed.</summary>
    public static IEnumerable<string> DelimiterProblems(string template)
    {
        var text = WithoutComments(template);
        var open = -1;
        for (var i = 0; i < text.Length - 1; i++)
        {
            if (text[i] == '{' && text[i + 1] == '{')
            {
                if (open >= 0)
                    yield return $"'{{{{' at offset {i} opens inside the action at offset {open}";
                open = i;
                i++;
            }
            else if (text[i] == '}' && text[i + 1] == '}')
            {
                if (open < 0)
                    yield return $"'}}}}' at offset {i} closes nothing";
                open = -1;
                i++;
            }
        }

        if (open >= 0)
            yield return $"the action at offset {open} is never closed";
        var blocks = BlockStart().Matches(text).Count;
        var ends = BlockEnd().Matches(text).Count;
        if (blocks != ends)
            yield return $"{blocks} if/range/with/define blocks but {ends} ends";
        if (CommentOpen().Matches(template).Count != CommentAction().Matches(template).Count)
            yield return "an unterminated {{/* comment */}}";
    }

    /// <summary>".Values.a.b" paths used by a template.</summary>
    public static IEnumerable<string> ValuesReferences(string template) =>
        ValuesPath().Matches(WithoutComments(template)).Select(m => m.Groups[1].Value.TrimStart('.')).Distinct(StringComparer.Ordinal);

    public static IEnumerable<string> Includes(string template) =>
        IncludeCall().Matches(template).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal);

    public static IEnumerable<string> Definitions(string template) =>
        DefineCall().Matches(template).Select(m => m.Groups[1].Value);

    /// <summary>YAML documents as JSON, resolving plain scalars the way YAML 1.1/Helm does.
    /// Numbers are parsed from JSON text so they read back as any numeric type.</summary>
    public static List<JsonNode?> YamlToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Select(d => Convert(d.RootNode)).ToList();
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p =>
            KeyValuePair.Create(((YamlScalarNode)p.Key).Value!, Convert(p.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(Convert)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidOperationException($"unsupported YAML node {node.NodeType}"),
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style != YamlDotNet.Core.ScalarStyle.Plain)
            return JsonValue.Create(value);
        if (value is "" or "~" or "null" or "Null" or "NULL")
            return null;
        if (value is "true" or "True" or "TRUE")
            return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE")
            return JsonValue.Create(false);
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
            return JsonNode.Parse(integer.ToString(CultureInfo.InvariantCulture));
        if (FloatScalar().IsMatch(value))
            return JsonNode.Parse(double.Parse(value, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture));
        return JsonValue.Create(value);
    }

    private static string FindRepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "charts", "governor", "Chart.yaml")))
                return directory.FullName;
        }

        throw new InvalidOperationException("charts/governor/Chart.yaml not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\{\{-?\s*/\*.*?\*/\s*-?\}\}", RegexOptions.Singleline)]
    private static partial Regex CommentAction();

    [GeneratedRegex(@"\{\{-?\s*/\*")]
    private static partial Regex CommentOpen();

    [GeneratedRegex(@"^\s*(\{\{.*?\}\}\s*)+$")]
    private static partial Regex ActionsOnlyLine();

    [GeneratedRegex(@"\{\{.*?\}\}")]
    private static partial Regex Action();

    [GeneratedRegex(@"\{\{-?\s*(if|range|with|define|block)\b")]
    private static partial Regex BlockStart();

    [GeneratedRegex(@"\{\{-?\s*end\s*-?\}\}")]
    private static partial Regex BlockEnd();

    [GeneratedRegex(@"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")]
    private static partial Regex ValuesPath();

    [GeneratedRegex(@"include\s+""([^""]+)""")]
    private static partial Regex IncludeCall();

    [GeneratedRegex(@"define\s+""([^""]+)""")]
    private static partial Regex DefineCall();

    [GeneratedRegex(@"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatScalar();
}
