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
/// however many rules look at it. Rules with an equality condition (<c>==</c> or <c>in</c>) are
/// indexed by that condition's value: a request looks its value up once instead of comparing it
/// with every rule (50 rules on X-User-Id cost one lookup), and only the rules the lookup returns,
/// plus the rules without such a condition, are evaluated, still in priority order. Matching
/// allocates nothing and takes no lock; the first rule whose conditions all hold wins.
/// </summary>
internal sealed class LabelMatcher
{
    /// <summary>Attributes whose values are remembered per request; more are read again per condition.</summary>
    private const int CachedAttributes = 16;

    /// <summary>Indexed attributes at most; beyond that the rules are scanned one by one.</summary>
    private const int MaxKeyAttributes = 7;

    public static readonly LabelMatcher Empty = new(Array.Empty<Attribute>(), Array.Empty<CompiledLabelRule>(), Array.Empty<KeyIndex>(), Array.Empty<int>());

    private readonly Attribute[] _attributes;
    private readonly CompiledLabelRule[] _rules;
    private readonly KeyIndex[] _keys;
    private readonly int[] _unkeyed;
    private readonly bool _indexed;

    private LabelMatcher(Attribute[] attributes, CompiledLabelRule[] rules, KeyIndex[] keys, int[] unkeyed)
    {
        _attributes = attributes;
        _rules = rules;
        _keys = keys;
        _unkeyed = unkeyed;
        _indexed = keys.Length <= MaxKeyAttributes;
    }

    public IReadOnlyList<CompiledLabelRule> Rules => _rules;

    public int AttributeCount => _attributes.Length;

    /// <summary>How many attributes serve as an index (tests).</summary>
    internal int IndexedAttributes => _indexed ? _keys.Length : 0;

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
        var keyed = new Dictionary<int, Dictionary<string, List<int>>>();
        var unkeyed = new List<int>();
        for (int i = 0; i < ordered.Count; i++)
        {
            var (file, index, name, spec) = ordered[i];
            var conditions = new CompiledCondition[spec.Match.Count];
            MatchCondition? key = null;
            int keyAttribute = -1;
            for (int c = 0; c < conditions.Length; c++)
            {
                var m = spec.Match[c];
                int attribute = AttributeIndex(attributes, m.Type, m.Key);
                conditions[c] = new CompiledCondition(attribute, m);
                if (key is null && m.Operator is MatchOperator.Equal or MatchOperator.In)
                {
                    key = m;
                    keyAttribute = attribute;
                }
            }

            compiled[i] = new CompiledLabelRule(name, Path.GetFileName(file), index, spec.TrafficLabel, conditions, stats.Inbound(spec.TrafficLabel));
            if (key is null)
            {
                unkeyed.Add(i);
                continue;
            }

            if (!keyed.TryGetValue(keyAttribute, out var byValue))
            {
                keyed[keyAttribute] = byValue = new Dictionary<string, List<int>>(key.Type == MatchSource.Method ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
            }

            foreach (string value in key.Operator == MatchOperator.Equal ? new[] { key.Value } : key.Values)
            {
                if (!byValue.TryGetValue(value, out var list))
                {
                    byValue[value] = list = new List<int>();
                }

                if (list.Count == 0 || list[^1] != i)
                {
                    list.Add(i);
                }
            }
        }

        var keys = keyed.Select(k => new KeyIndex(k.Key, k.Value.ToDictionary(v => v.Key, v => v.Value.ToArray(), (IEqualityComparer<string>)k.Value.Comparer))).ToArray();
        return new LabelMatcher(attributes.ToArray(), compiled, keys, unkeyed.ToArray());
    }

    /// <summary>The first rule whose conditions all hold for <paramref name="call"/>, or null.</summary>
    public CompiledLabelRule? Match(InboundCall call)
    {
        var rules = _rules;
        if (rules.Length == 0)
        {
            return null;
        }

        var request = new RequestValues(call, _attributes);
        if (!_indexed)
        {
            for (int r = 0; r < rules.Length; r++)
            {
                if (Holds(rules[r], ref request))
                {
                    return rules[r];
                }
            }

            return null;
        }

        // The candidate lists: the rules without an index condition, and the rules whose index
        // condition the request's values select. Each list is in priority order and a rule is in
        // at most one, so merging them visits the candidates in priority order.
        var sources = default(Sources);
        int count = 0;
        if (_unkeyed.Length != 0)
        {
            sources[count++] = _unkeyed;
        }

        foreach (var key in _keys)
        {
            string? value = request.Get(key.Attribute);
            if (value is not null && key.Rules.TryGetValue(value, out int[]? selected))
            {
                sources[count++] = selected;
            }
        }

        if (count == 0)
        {
            return null;
        }

        if (count == 1)
        {
            foreach (int r in sources[0]!)
            {
                if (Holds(rules[r], ref request))
                {
                    return rules[r];
                }
            }

            return null;
        }

        Span<int> next = stackalloc int[count];
        next.Clear();
        while (true)
        {
            int source = -1;
            int candidate = int.MaxValue;
            for (int s = 0; s < count; s++)
            {
                int[] list = sources[s]!;
                if (next[s] < list.Length && list[next[s]] < candidate)
                {
                    candidate = list[next[s]];
                    source = s;
                }
            }

            if (source < 0)
            {
                return null;
            }

            next[source]++;
            if (Holds(rules[candidate], ref request))
            {
                return rules[candidate];
            }
        }
    }

    private static bool Holds(CompiledLabelRule rule, ref RequestValues request)
    {
        foreach (var condition in rule.Conditions)
        {
            if (!condition.IsMatch(request.Get(condition.Attribute)))
            {
                return false;
            }
        }

        return true;
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

    /// <summary>An attribute used as an index: its values and the rules (in priority order) each one selects.</summary>
    private sealed class KeyIndex
    {
        public KeyIndex(int attribute, Dictionary<string, int[]> rules)
        {
            Attribute = attribute;
            Rules = rules;
        }

        public int Attribute { get; }

        public Dictionary<string, int[]> Rules { get; }
    }

    /// <summary>One request's attribute values, each read on first use (on the stack).</summary>
    private ref struct RequestValues
    {
        private readonly InboundCall _call;
        private readonly Attribute[] _attributes;
        private AttributeValues _values;
        private uint _fetched;

        public RequestValues(InboundCall call, Attribute[] attributes)
        {
            _call = call;
            _attributes = attributes;
        }

        public string? Get(int index)
        {
            if (index >= CachedAttributes)
            {
                return _attributes[index].Read(_call);
            }

            uint bit = 1u << index;
            if ((_fetched & bit) != 0)
            {
                return _values[index];
            }

            string? value = _attributes[index].Read(_call);
            _values[index] = value;
            _fetched |= bit;
            return value;
        }
    }

    [InlineArray(CachedAttributes)]
    private struct AttributeValues
    {
        private string? _first;
    }

    /// <summary>The candidate lists of one request: the unindexed rules and one per indexed attribute.</summary>
    [InlineArray(MaxKeyAttributes + 1)]
    private struct Sources
    {
        private int[]? _first;
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
