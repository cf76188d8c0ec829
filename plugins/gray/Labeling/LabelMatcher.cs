using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Governor.Interception;
using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;

namespace Governor.Plugins.Gray.Labeling;

/// <summary>
/// The TrafficLabelRules that apply to this app, compiled for the request path: sorted once by
/// priority, with every distinct request attribute they read (a header, a query parameter, a
/// cookie, the path, the method) numbered, so that a request reads each attribute at most once
/// however many rules look at it. Matching allocates nothing and takes no lock; the first rule
/// whose conditions all hold wins.
/// </summary>
internal sealed class LabelMatcher
{
    /// <summary>Attributes whose values are remembered per request; more are read again per condition.</summary>
    private const int CachedAttributes = 16;

    public static readonly LabelMatcher Empty = new(Array.Empty<Attribute>(), Array.Empty<CompiledLabelRule>());

    private readonly Attribute[] _attributes;
    private readonly CompiledLabelRule[] _rules;

    private LabelMatcher(Attribute[] attributes, CompiledLabelRule[] rules)
    {
        _attributes = attributes;
        _rules = rules;
    }

    public IReadOnlyList<CompiledLabelRule> Rules => _rules;

    public int AttributeCount => _attributes.Length;

    /// <summary>
    /// Orders the rules (priority, then file name, then position in the file) and compiles them.
    /// <paramref name="rules"/> holds only the rules that apply to this app.
    /// </summary>
    public static LabelMatcher Compile(IEnumerable<(string File, int Index, string Name, TrafficLabelRuleSpec Spec)> rules, GrayStats stats)
    {
        var ordered = rules
            .OrderBy(r => r.Spec.Priority is null ? 1 : 0)
            .ThenBy(r => r.Spec.Priority ?? 0)
            .ThenBy(r => r.File, StringComparer.Ordinal)
            .ThenBy(r => r.Index)
            .ToList();
        var attributes = new List<Attribute>();
        var compiled = new CompiledLabelRule[ordered.Count];
        for (int i = 0; i < ordered.Count; i++)
        {
            var (file, index, name, spec) = ordered[i];
            var conditions = new CompiledCondition[spec.Match.Count];
            for (int c = 0; c < conditions.Length; c++)
            {
                var m = spec.Match[c];
                conditions[c] = new CompiledCondition(AttributeIndex(attributes, m.Type, m.Key), m);
            }

            compiled[i] = new CompiledLabelRule(name, Path.GetFileName(file), index, spec.TrafficLabel, conditions, stats.Inbound(spec.TrafficLabel));
        }

        return new LabelMatcher(attributes.ToArray(), compiled);
    }

    /// <summary>The first rule whose conditions all hold for <paramref name="call"/>, or null.</summary>
    public CompiledLabelRule? Match(InboundCall call)
    {
        var rules = _rules;
        if (rules.Length == 0)
        {
            return null;
        }

        var values = default(AttributeValues);
        uint fetched = 0;
        for (int r = 0; r < rules.Length; r++)
        {
            var conditions = rules[r].Conditions;
            int c = 0;
            for (; c < conditions.Length; c++)
            {
                var condition = conditions[c];
                if (!condition.IsMatch(Value(call, condition.Attribute, ref values, ref fetched)))
                {
                    break;
                }
            }

            if (c == conditions.Length)
            {
                return rules[r];
            }
        }

        return null;
    }

    private string? Value(InboundCall call, int index, ref AttributeValues values, ref uint fetched)
    {
        if (index >= CachedAttributes)
        {
            return _attributes[index].Read(call);
        }

        uint bit = 1u << index;
        if ((fetched & bit) != 0)
        {
            return values[index];
        }

        string? value = _attributes[index].Read(call);
        values[index] = value;
        fetched |= bit;
        return value;
    }

    private static int AttributeIndex(List<Attribute> attributes, MatchSource type, string? key)
    {
        for (int i = 0; i < attributes.Count; i++)
        {
            // Header and query names are case-insensitive in ASP.NET Core; cookie names are not.
            var comparison = type == MatchSource.Cookie ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
            if (attributes[i].Type == type && string.Equals(attributes[i].Key, key, comparison))
            {
                return i;
            }
        }

        attributes.Add(new Attribute(type, key));
        return attributes.Count - 1;
    }

    /// <summary>A request attribute a condition reads.</summary>
    private sealed class Attribute
    {
        public Attribute(MatchSource type, string? key)
        {
            Type = type;
            Key = key;
        }

        public MatchSource Type { get; }

        public string? Key { get; }

        public string? Read(InboundCall call) => Type switch
        {
            MatchSource.Header => call.GetHeader(Key!),
            MatchSource.Query => call.GetQuery(Key!),
            MatchSource.Cookie => call.GetCookie(Key!),
            MatchSource.Path => call.Path,
            _ => call.Method,
        };
    }

    /// <summary>Per-request values of the first <see cref="CachedAttributes"/> attributes, on the stack.</summary>
    [InlineArray(CachedAttributes)]
    private struct AttributeValues
    {
        private string? _first;
    }
}

/// <summary>A TrafficLabelRule ready for the request path.</summary>
internal sealed class CompiledLabelRule
{
    public CompiledLabelRule(string name, string file, int index, string label, CompiledCondition[] conditions, InboundLabelStats stats)
    {
        Name = name;
        File = file;
        Index = index;
        Label = label;
        Conditions = conditions;
        Stats = stats;
    }

    public string Name { get; }

    public string File { get; }

    public int Index { get; }

    public string Label { get; }

    public CompiledCondition[] Conditions { get; }

    /// <summary>The counters of this rule's label, found once at compile time.</summary>
    public InboundLabelStats Stats { get; }

    public override string ToString() => $"{Name} ({File}#{Index}) -> {Label}";
}

/// <summary>One condition: which attribute, which operator, which value(s).</summary>
internal sealed class CompiledCondition
{
    private readonly MatchOperator _operator;
    private readonly string _value;
    private readonly string[] _values;
    private readonly HashSet<string>? _set;
    private readonly Regex? _pattern;
    private readonly StringComparison _comparison;

    public CompiledCondition(int attribute, MatchCondition condition)
    {
        Attribute = attribute;
        _operator = condition.Operator;
        _value = condition.Value;
        _values = condition.Values.ToArray();
        _pattern = condition.Pattern;
        // HTTP methods are tokens conventionally written in upper case; "get" in a rule means GET.
        _comparison = condition.Type == MatchSource.Method ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (_values.Length > 8)
        {
            _set = new HashSet<string>(_values, _comparison == StringComparison.Ordinal ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        }
    }

    public int Attribute { get; }

    /// <summary>Whether the attribute's value (null when the request does not have it) meets the condition.</summary>
    public bool IsMatch(string? value)
    {
        switch (_operator)
        {
            case MatchOperator.Equal:
                return value is not null && string.Equals(value, _value, _comparison);
            case MatchOperator.NotEqual:
                // An absent value is not equal to anything.
                return value is null || !string.Equals(value, _value, _comparison);
            case MatchOperator.In:
                return value is not null && Contains(value);
            case MatchOperator.Prefix:
                return value is not null && value.StartsWith(_value, _comparison);
            default:
                return value is not null && IsRegexMatch(value);
        }
    }

    private bool Contains(string value)
    {
        if (_set is not null)
        {
            return _set.Contains(value);
        }

        foreach (string candidate in _values)
        {
            if (string.Equals(value, candidate, _comparison))
            {
                return true;
            }
        }

        return false;
    }

    private bool IsRegexMatch(string value)
    {
        try
        {
            return _pattern!.IsMatch(value);
        }
        catch (RegexMatchTimeoutException)
        {
            // A pathological input against a backtracking pattern: no label rather than a stalled request.
            return false;
        }
    }
}
