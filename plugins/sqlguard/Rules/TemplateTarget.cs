using Governor.Plugins.SqlGuard.Templates;

namespace Governor.Plugins.SqlGuard.Rules;

/// <summary>
/// One <c>targetResourceName</c> of a FaultToleranceRule, read as a set of statement templates:
/// <list type="bullet">
/// <item><c>sql:*</c> — every template (each gets its own breaker);</item>
/// <item><c>sql:SELECT * FROM orders*</c> — a trailing <c>*</c> matches every template that starts with the text before it;</item>
/// <item><c>sql:SELECT * FROM orders WHERE id = 42</c> — exactly that template;</item>
/// <item><c>sql@shop:...</c> — any of the above, only for the database <c>shop</c>.</item>
/// </list>
/// The text after the colon is normalized like command text (so raw SQL with literals matches
/// its template) and compared without regard to case. Targets that start with neither
/// <c>sql:</c> nor <c>sql@</c> belong to other plugins and are ignored.
/// </summary>
internal sealed class TemplateTarget
{
    private readonly string? _database;
    private readonly string? _text;
    private readonly bool _prefix;

    private TemplateTarget(string source, string? database, string? text, bool prefix)
    {
        Source = source;
        _database = database;
        _text = text;
        _prefix = prefix;
    }

    public string Source { get; }

    /// <summary>Reads a target; null when it is not a SQL target; <paramref name="problem"/> says why a SQL target is unusable.</summary>
    public static TemplateTarget? TryParse(string target, out string? problem)
    {
        problem = null;
        string? database = null;
        string rest;
        if (target.StartsWith("sql:", StringComparison.Ordinal))
        {
            rest = target[4..];
        }
        else if (target.StartsWith("sql@", StringComparison.Ordinal))
        {
            int colon = target.IndexOf(':', 4);
            if (colon < 0 || colon == 4)
            {
                problem = $"target '{target}' names no database or no template; use sql@<database>:<template>";
                return null;
            }

            database = target[4..colon];
            rest = target[(colon + 1)..];
        }
        else
        {
            return null;
        }

        if (rest.Trim() == "*")
        {
            return new TemplateTarget(target, database, null, prefix: true);
        }

        bool prefix = rest.EndsWith('*');
        string normalized = SqlNormalizer.Normalize(prefix ? rest[..^1] : rest, SqlDialect.Generic);
        if (normalized.Length == 0)
        {
            problem = $"target '{target}' has no template text; use sql:* for every template";
            return null;
        }

        return new TemplateTarget(target, database, normalized, prefix);
    }

    public bool Matches(string database, string template)
    {
        if (_database is not null && !string.Equals(_database, database, StringComparison.Ordinal))
        {
            return false;
        }

        if (_text is null)
        {
            return true;
        }

        return _prefix
            ? template.StartsWith(_text, StringComparison.OrdinalIgnoreCase)
            : string.Equals(template, _text, StringComparison.OrdinalIgnoreCase);
    }

    public override string ToString() => Source;
}
