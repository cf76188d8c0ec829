using System.Globalization;
using System.Text.RegularExpressions;

namespace Governor.Rules;

/// <summary>
/// Reads one mapping of a rule document field by field, collecting every problem with its field
/// path and line instead of stopping at the first. Fields that were never read are reported as
/// unknown by <see cref="End"/>, so a typo such as <c>treshold</c> is an error, not a silent default.
/// </summary>
public sealed class SpecReader
{
    private readonly RuleNode _node;
    private readonly List<RuleError> _errors;
    private readonly string _file;
    private readonly int _document;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public SpecReader(RuleNode node, string path, string file, int documentIndex, List<RuleError> errors)
    {
        _node = node;
        Path = path;
        _file = file;
        _document = documentIndex;
        _errors = errors;
        if (node.Kind != RuleNodeKind.Mapping)
        {
            Error(node, path, $"must be an object, found {node.Describe()}");
        }
    }

    /// <summary>The field path of this mapping, e.g. <c>spec.match[0]</c>.</summary>
    public string Path { get; }

    public RuleNode Node => _node;

    public int Line => _node.Line;

    /// <summary>True while no error has been reported anywhere in the document.</summary>
    public bool IsValid => _errors.Count == 0;

    public IReadOnlyList<RuleError> Errors => _errors;

    public bool Has(string field) => _node.Kind == RuleNodeKind.Mapping && _node.Get(field) is { IsNull: false };

    /// <summary>Marks a field as known without reading it.</summary>
    public void Ignore(string field) => _read.Add(field);

    /// <summary>Reports a problem with a field (or with this object when <paramref name="field"/> is null).</summary>
    public void Error(string? field, string message)
    {
        var node = field is null ? _node : (_node.Get(field) ?? _node);
        Error(node, field is null ? Path : Child(field), message);
    }

    public string? String(string field, bool required = false, IReadOnlyCollection<string>? allowed = null)
    {
        var node = Scalar(field, required, "a string");
        if (node?.Value is null)
        {
            return null;
        }

        if (allowed is not null)
        {
            foreach (var a in allowed)
            {
                if (string.Equals(a, node.Value, StringComparison.OrdinalIgnoreCase))
                {
                    return a;
                }
            }

            Error(node, Child(field), $"'{node.Value}' is not accepted; use one of: {string.Join(", ", allowed)}");
            return null;
        }

        return node.Value;
    }

    public long? Long(string field, bool required = false, long min = long.MinValue, long max = long.MaxValue)
    {
        var node = Scalar(field, required, "a whole number");
        if (node?.Value is null)
        {
            return null;
        }

        if (node.IsQuoted || !long.TryParse(node.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
        {
            Error(node, Child(field), $"must be a whole number, found {node.Describe()}");
            return null;
        }

        if (value < min || value > max)
        {
            Error(node, Child(field), $"{value} is out of range; use {RangeText(min, max)}");
            return null;
        }

        return value;
    }

    public int? Int(string field, bool required = false, int min = int.MinValue, int max = int.MaxValue)
        => (int?)Long(field, required, min, max);

    public double? Double(string field, bool required = false, double min = double.MinValue, double max = double.MaxValue)
    {
        var node = Scalar(field, required, "a number");
        if (node?.Value is null)
        {
            return null;
        }

        if (node.IsQuoted || !double.TryParse(node.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || double.IsNaN(value) || double.IsInfinity(value))
        {
            Error(node, Child(field), $"must be a number, found {node.Describe()}");
            return null;
        }

        if (value < min || value > max)
        {
            Error(node, Child(field), $"{value.ToString(CultureInfo.InvariantCulture)} is out of range; use {RangeText(min, max)}");
            return null;
        }

        return value;
    }

    public bool? Bool(string field, bool required = false)
    {
        var node = Scalar(field, required, "true or false");
        if (node?.Value is null)
        {
            return null;
        }

        if (!node.IsQuoted && bool.TryParse(node.Value, out bool value))
        {
            return value;
        }

        Error(node, Child(field), $"must be true or false, found {node.Describe()}");
        return null;
    }

    /// <summary>
    /// A duration: a number with a unit ("500ms", "1s", "2m", "1h", "1.5s") or a plain number
    /// read in <paramref name="plainUnit"/> (seconds unless told otherwise).
    /// </summary>
    public TimeSpan? Duration(string field, bool required = false, TimeSpan? min = null, TimeSpan? max = null, TimeSpan? plainUnit = null)
    {
        var node = Scalar(field, required, "a duration such as \"1s\" or \"500ms\"");
        if (node?.Value is null)
        {
            return null;
        }

        if (!TryParseDuration(node.Value, plainUnit ?? TimeSpan.FromSeconds(1), out var value))
        {
            Error(node, Child(field), $"must be a duration such as \"1s\", \"500ms\" or \"2m\", found {node.Describe()}");
            return null;
        }

        if ((min is not null && value < min) || (max is not null && value > max))
        {
            Error(node, Child(field), $"{node.Value} is out of range; use {(min is null ? "at most " + max : max is null ? "at least " + Format(min.Value) : $"{Format(min.Value)} to {Format(max!.Value)}")}");
            return null;
        }

        return value;
    }

    public Regex? Regex(string field, bool required = false)
    {
        var text = String(field, required);
        if (text is null)
        {
            return null;
        }

        try
        {
            return new Regex(text, RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromMilliseconds(50));
        }
        catch (ArgumentException ex)
        {
            Error(field, $"is not a valid regular expression: {ex.Message}");
            return null;
        }
    }

    /// <summary>A nested object, or null when absent (an error when required).</summary>
    public SpecReader? Object(string field, bool required = false)
    {
        var node = Field(field, required, "an object");
        if (node is null)
        {
            return null;
        }

        if (node.Kind != RuleNodeKind.Mapping)
        {
            Error(node, Child(field), $"must be an object, found {node.Describe()}");
            return null;
        }

        return new SpecReader(node, Child(field), _file, _document, _errors);
    }

    /// <summary>A list of objects; empty when absent (an error when required or when <paramref name="minItems"/> is not met).</summary>
    public IReadOnlyList<SpecReader> Objects(string field, bool required = false, int minItems = 0)
    {
        var node = Field(field, required, "a list");
        if (node is null)
        {
            return Array.Empty<SpecReader>();
        }

        if (node.Kind != RuleNodeKind.Sequence)
        {
            Error(node, Child(field), $"must be a list, found {node.Describe()}");
            return Array.Empty<SpecReader>();
        }

        if (node.Items.Count < minItems)
        {
            Error(node, Child(field), $"must have at least {minItems} item(s)");
        }

        var result = new List<SpecReader>(node.Items.Count);
        for (int i = 0; i < node.Items.Count; i++)
        {
            var item = node.Items[i];
            string path = $"{Child(field)}[{i}]";
            if (item.Kind != RuleNodeKind.Mapping)
            {
                Error(item, path, $"must be an object, found {item.Describe()}");
                continue;
            }

            result.Add(new SpecReader(item, path, _file, _document, _errors));
        }

        return result;
    }

    /// <summary>A list of strings (a single scalar is accepted as a list of one).</summary>
    public IReadOnlyList<string> Strings(string field, bool required = false, int minItems = 0)
    {
        var node = Field(field, required, "a list of strings");
        if (node is null)
        {
            return Array.Empty<string>();
        }

        if (node.Kind == RuleNodeKind.Scalar)
        {
            return node.Value is null ? Array.Empty<string>() : new[] { node.Value };
        }

        if (node.Kind != RuleNodeKind.Sequence)
        {
            Error(node, Child(field), $"must be a list of strings, found {node.Describe()}");
            return Array.Empty<string>();
        }

        var result = new List<string>(node.Items.Count);
        for (int i = 0; i < node.Items.Count; i++)
        {
            var item = node.Items[i];
            if (item.Kind != RuleNodeKind.Scalar || item.Value is null)
            {
                Error(item, $"{Child(field)}[{i}]", $"must be a string, found {item.Describe()}");
                continue;
            }

            result.Add(item.Value);
        }

        if (result.Count < minItems)
        {
            Error(node, Child(field), $"must have at least {minItems} item(s)");
        }

        return result;
    }

    /// <summary>An object of string values, e.g. labels or headers.</summary>
    public IReadOnlyDictionary<string, string> StringMap(string field, bool required = false)
    {
        var node = Field(field, required, "an object of strings");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is null)
        {
            return result;
        }

        if (node.Kind != RuleNodeKind.Mapping)
        {
            Error(node, Child(field), $"must be an object of strings, found {node.Describe()}");
            return result;
        }

        foreach (var entry in node.Entries)
        {
            if (entry.Value.Kind != RuleNodeKind.Scalar || entry.Value.Value is null)
            {
                Error(entry.Value, $"{Child(field)}.{entry.Key}", $"must be a string, found {entry.Value.Describe()}");
                continue;
            }

            result[entry.Key] = entry.Value.Value;
        }

        return result;
    }

    /// <summary>Reports every field of this object that was not read as unknown, naming the known ones.</summary>
    public void End()
    {
        if (_node.Kind != RuleNodeKind.Mapping)
        {
            return;
        }

        foreach (var entry in _node.Entries)
        {
            if (!_read.Contains(entry.Key))
            {
                string known = _read.Count == 0 ? string.Empty : $"; known fields here: {string.Join(", ", _read.OrderBy(s => s, StringComparer.Ordinal))}";
                Error(entry.Value, Child(entry.Key), $"unknown field '{entry.Key}'{known}");
            }
        }
    }

    public static bool TryParseDuration(string text, TimeSpan plainUnit, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        if (text.Length == 0)
        {
            return false;
        }

        int i = 0;
        while (i < text.Length && (char.IsDigit(text[i]) || text[i] == '.'))
        {
            i++;
        }

        if (i == 0 || !double.TryParse(text.AsSpan(0, i), NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || number < 0)
        {
            return false;
        }

        var unit = text.AsSpan(i).Trim();
        double ms;
        if (unit.Length == 0)
        {
            ms = number * plainUnit.TotalMilliseconds;
        }
        else if (unit.Equals("ms", StringComparison.OrdinalIgnoreCase))
        {
            ms = number;
        }
        else if (unit.Equals("s", StringComparison.OrdinalIgnoreCase))
        {
            ms = number * 1000;
        }
        else if (unit.Equals("m", StringComparison.OrdinalIgnoreCase) || unit.Equals("min", StringComparison.OrdinalIgnoreCase))
        {
            ms = number * 60_000;
        }
        else if (unit.Equals("h", StringComparison.OrdinalIgnoreCase))
        {
            ms = number * 3_600_000;
        }
        else
        {
            return false;
        }

        if (ms > TimeSpan.MaxValue.TotalMilliseconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(ms);
        return true;
    }

    private RuleNode? Field(string field, bool required, string expected)
    {
        _read.Add(field);
        var node = _node.Kind == RuleNodeKind.Mapping ? _node.Get(field) : null;
        if (node is null || node.IsNull)
        {
            if (required && _node.Kind == RuleNodeKind.Mapping)
            {
                Error(_node, Child(field), $"is required ({expected})");
            }

            return null;
        }

        return node;
    }

    private RuleNode? Scalar(string field, bool required, string expected)
    {
        var node = Field(field, required, expected);
        if (node is null)
        {
            return null;
        }

        if (node.Kind != RuleNodeKind.Scalar)
        {
            Error(node, Child(field), $"must be {expected}, found {node.Describe()}");
            return null;
        }

        return node;
    }

    private string Child(string field) => Path.Length == 0 ? field : $"{Path}.{field}";

    private void Error(RuleNode node, string path, string message) => _errors.Add(new RuleError(_file, _document, node.Line, path, message));

    private static string RangeText(double min, double max)
    {
        static string F(double d) => d.ToString(CultureInfo.InvariantCulture);
        if (min == double.MinValue || min == long.MinValue)
        {
            return $"at most {F(max)}";
        }

        if (max == double.MaxValue || max == long.MaxValue)
        {
            return $"at least {F(min)}";
        }

        return $"{F(min)} to {F(max)}";
    }

    private static string Format(TimeSpan t) => t.TotalMilliseconds < 1000 ? $"{t.TotalMilliseconds}ms" : $"{t.TotalSeconds}s";
}
