using System.Text.RegularExpressions;
using Governor.Plugins.Gray.Labeling;
using Governor.Rules;

namespace Governor.Plugins.Gray.Rules;

/// <summary>What a match condition reads from the request.</summary>
internal enum MatchSource
{
    Header,
    Path,
    Query,
    Cookie,
    Method,
}

internal enum MatchOperator
{
    /// <summary><c>==</c>: equal (ordinal; the method ignores case).</summary>
    Equal,

    /// <summary><c>!=</c>: not equal; also true when the value is absent.</summary>
    NotEqual,

    /// <summary><c>in</c>: equal to one of a list.</summary>
    In,

    /// <summary><c>prefix</c>: starts with.</summary>
    Prefix,

    /// <summary><c>regex</c>: a .NET regular expression finds a match (anchor it with ^ and $ for a whole-value match).</summary>
    Regex,
}

/// <summary>One entry of <c>spec.match</c>.</summary>
internal sealed record MatchCondition(MatchSource Type, string? Key, MatchOperator Operator, string Value, IReadOnlyList<string> Values, Regex? Pattern, int Line);

/// <summary>
/// <c>traffic.opensergo.io/v1alpha1</c> <c>TrafficLabelRule</c>: requests of the selected app that
/// meet every condition of <see cref="Match"/> get the label <see cref="TrafficLabel"/>.
/// Evaluated only for requests that arrive without a (trusted) label.
/// </summary>
internal sealed class TrafficLabelRuleSpec
{
    public const string Group = "traffic.opensergo.io";
    public const string KindName = "TrafficLabelRule";

    public static readonly string[] Types = { "header", "path", "query", "cookie", "method" };
    public static readonly string[] Operators = { "==", "!=", "in", "prefix", "regex" };

    public TrafficLabelRuleSpec(string? selectorApp, string trafficLabel, int? priority, IReadOnlyList<MatchCondition> match)
    {
        SelectorApp = selectorApp;
        TrafficLabel = trafficLabel;
        Priority = priority;
        Match = match;
    }

    /// <summary><c>spec.selector.app</c>: the app this rule labels traffic for; null = every app.</summary>
    public string? SelectorApp { get; }

    public string TrafficLabel { get; }

    /// <summary><c>spec.priority</c>: lower is evaluated first; rules without one come after all rules with one.</summary>
    public int? Priority { get; }

    /// <summary>ANDed conditions, at least one.</summary>
    public IReadOnlyList<MatchCondition> Match { get; }

    public bool AppliesTo(string appName) => SelectorApp is null || string.Equals(SelectorApp, appName, StringComparison.Ordinal);

    public static readonly RuleKind Kind = new(Group, KindName, new[] { "v1alpha1" }, Parse);

    private static object? Parse(SpecReader spec)
    {
        string? app = SelectorReader.App(spec);
        string? label = spec.String("trafficLabel", required: true);
        if (label is not null && !LabelText.IsValid(label))
        {
            spec.Error("trafficLabel", $"'{label}' is not a valid label; use 1 to {LabelText.MaxLength} letters, digits, '-', '_' or '.'");
            label = null;
        }
        else if (label == LabelText.Base)
        {
            spec.Error("trafficLabel", $"'{LabelText.Base}' names the base lane and cannot be a traffic label; unlabeled traffic is base traffic");
            label = null;
        }

        int? priority = spec.Int("priority");
        var conditions = new List<MatchCondition>();
        foreach (var m in spec.Objects("match", required: true, minItems: 1))
        {
            if (ReadCondition(m) is { } condition)
            {
                conditions.Add(condition);
            }

            m.End();
        }

        spec.End();
        return label is null ? null : new TrafficLabelRuleSpec(app, label, priority, conditions);
    }

    private static MatchCondition? ReadCondition(SpecReader m)
    {
        string? typeText = m.String("type", required: true, allowed: Types);
        string? operatorText = m.String("condition", required: true, allowed: Operators);
        MatchSource? type = typeText switch
        {
            "header" => MatchSource.Header,
            "path" => MatchSource.Path,
            "query" => MatchSource.Query,
            "cookie" => MatchSource.Cookie,
            "method" => MatchSource.Method,
            _ => null,
        };
        MatchOperator? op = operatorText switch
        {
            "==" => MatchOperator.Equal,
            "!=" => MatchOperator.NotEqual,
            "in" => MatchOperator.In,
            "prefix" => MatchOperator.Prefix,
            "regex" => MatchOperator.Regex,
            _ => null,
        };

        string? key = null;
        if (type is MatchSource.Header or MatchSource.Query or MatchSource.Cookie)
        {
            key = m.String("key", required: true);
            if (key is not null && key.Length == 0)
            {
                m.Error("key", "must not be empty");
                key = null;
            }
        }
        else if (type is not null)
        {
            m.Ignore("key");
            if (m.Has("key"))
            {
                m.Error("key", $"is not used with type '{typeText}' (it reads the request's {typeText}); remove it");
            }
        }
        else
        {
            m.Ignore("key");
        }

        string value = string.Empty;
        IReadOnlyList<string> values = Array.Empty<string>();
        Regex? pattern = null;
        switch (op)
        {
            case MatchOperator.In:
                bool scalar = m.Node.Get("value") is { Kind: RuleNodeKind.Scalar };
                values = m.Strings("value", required: true, minItems: 1);
                values = scalar ? SplitList(values) : values;
                break;
            case MatchOperator.Regex:
                pattern = m.Regex("value", required: true);
                value = pattern?.ToString() ?? string.Empty;
                break;
            case null:
                m.Ignore("value");
                break;
            default:
                var node = m.Node.Get("value");
                if (node is { Kind: RuleNodeKind.Sequence })
                {
                    m.Ignore("value");
                    m.Error("value", $"must be a single value for condition '{operatorText}'; a list is for 'in'");
                }
                else
                {
                    value = m.String("value", required: true) ?? string.Empty;
                }

                break;
        }

        if (type is null || op is null || (key is null && type is MatchSource.Header or MatchSource.Query or MatchSource.Cookie) || !m.IsValid)
        {
            return null;
        }

        return new MatchCondition(type.Value, key, op.Value, value, values, pattern, m.Line);
    }

    /// <summary>A list for 'in' may also be written as one comma-separated string ("a, b, c").</summary>
    private static IReadOnlyList<string> SplitList(IReadOnlyList<string> items)
    {
        var result = new List<string>(items.Count);
        foreach (string item in items)
        {
            foreach (string part in item.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                result.Add(part);
            }
        }

        return result;
    }
}

/// <summary>Reads <c>spec.selector.app</c>, the selector every rule kind of this plugin shares.</summary>
internal static class SelectorReader
{
    public static string? App(SpecReader spec, bool required = false)
    {
        var selector = spec.Object("selector", required);
        if (selector is null)
        {
            return null;
        }

        string? app = selector.String("app", required);
        if (app is not null && app.Length == 0)
        {
            selector.Error("app", "must not be empty");
            app = null;
        }

        selector.End();
        return app;
    }
}
