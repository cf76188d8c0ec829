using System.Runtime.CompilerServices;
using Governor.Interception;

namespace Governor.Plugins.SqlGuard.Templates;

/// <summary>
/// Finds the <see cref="TemplateState"/> of a command, in three levels so that the hot path
/// does not normalize, hash or allocate:
/// <list type="number">
/// <item>An identity cache: a fixed array indexed by the command text's object identity. Apps
/// (Dapper literals, EF Core's cached commands, prepared statements) pass the same string object
/// again and again, so a hit costs one identity hash and three reference compares.</item>
/// <item>A text cache, bounded LRU: text (and dialect) → template, for equal text in a new
/// string object, so it is normalized once.</item>
/// <item>The templates, bounded LRU: (database, template) → state. Dynamic SQL that produces
/// endless distinct templates evicts the least recently used ones instead of growing.</item>
/// </list>
/// Texts longer than the cacheable length are normalized every time and never kept by text
/// (no cache can then hold megabytes of someone's inline data).
/// </summary>
internal sealed class TemplateRegistry
{
    private const int IdentitySlots = 1024;

    private readonly IdentityEntry?[] _identity = new IdentityEntry?[IdentitySlots];
    private readonly BoundedLruMap<TextKey, NormalizedText> _texts;
    private readonly BoundedLruMap<TemplateKey, TemplateState> _templates;
    private readonly int _maxCachedTextLength;
    private ProviderDialect? _lastProvider;
    private long _normalizations;

    public TemplateRegistry(int maxTemplates, int maxCachedTexts, int maxCachedTextLength)
    {
        _templates = new BoundedLruMap<TemplateKey, TemplateState>(maxTemplates);
        _texts = new BoundedLruMap<TextKey, NormalizedText>(maxCachedTexts);
        _maxCachedTextLength = maxCachedTextLength;
    }

    public int TemplateCount => _templates.Count;

    public int CachedTextCount => _texts.Count;

    public long TemplateEvictions => _templates.Evictions;

    /// <summary>How many times command text was normalized (a cache miss).</summary>
    public long Normalizations => Interlocked.Read(ref _normalizations);

    public List<TemplateState> Templates() => _templates.Values();

    /// <summary>The template of <paramref name="call"/>, or null when it has no command text.</summary>
    public TemplateState? Resolve(SqlCall call)
    {
        string? text = call.CommandText;
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        string? database = call.Database;
        string? dataSource = call.DataSource;
        int slot = RuntimeHelpers.GetHashCode(text) & (IdentitySlots - 1);
        var entry = Volatile.Read(ref _identity[slot]);
        if (entry is not null && ReferenceEquals(entry.Text, text) && Same(entry.Database, database) && Same(entry.DataSource, dataSource))
        {
            var state = entry.State;
            if (!state.Evicted)
            {
                state.Touch(_templates.Generation);
                return state;
            }
        }

        return ResolveSlow(call.Provider, text, database, dataSource, slot);
    }

    private TemplateState ResolveSlow(string? provider, string text, string? database, string? dataSource, int slot)
    {
        var dialect = DialectOf(provider);
        string label = DatabaseLabel(dialect, database, dataSource);
        bool cacheable = text.Length <= _maxCachedTextLength;
        var normalized = cacheable
            ? _texts.GetOrAdd(new TextKey(text, dialect), static (key, registry) => registry.NormalizeCounted(key.Text, key.Dialect), this)
            : NormalizeCounted(text, dialect);

        // The text's last template state saves hashing the template again (same database, not evicted).
        var state = normalized.LastState;
        if (state is null || state.Evicted || !string.Equals(state.Database, label, StringComparison.Ordinal))
        {
            state = _templates.GetOrAdd(new TemplateKey(label, normalized.Template), static (key, _) => new TemplateState(key.Database, key.Template), 0);
            normalized.LastState = state;
        }
        else
        {
            state.Touch(_templates.Generation);
        }

        if (cacheable)
        {
            Volatile.Write(ref _identity[slot], new IdentityEntry(text, database, dataSource, state));
        }

        return state;
    }

    private NormalizedText NormalizeCounted(string text, SqlDialect dialect)
    {
        Interlocked.Increment(ref _normalizations);
        return new NormalizedText(SqlNormalizer.Normalize(text, dialect));
    }

    private SqlDialect DialectOf(string? provider)
    {
        // One app rarely has more than one provider: remember the last answer.
        var last = Volatile.Read(ref _lastProvider);
        if (last is not null && string.Equals(last.Provider, provider, StringComparison.Ordinal))
        {
            return last.Dialect;
        }

        var dialect = SqlDialects.FromProvider(provider);
        Volatile.Write(ref _lastProvider, new ProviderDialect(provider, dialect));
        return dialect;
    }

    /// <summary>
    /// The database part of a template's identity: the connection's database; for SQLite, whose
    /// database is always "main", the data source's file name; else the data source; else "".
    /// </summary>
    internal static string DatabaseLabel(SqlDialect dialect, string? database, string? dataSource)
    {
        if (dialect == SqlDialect.Sqlite && !string.IsNullOrEmpty(dataSource))
        {
            string name = Path.GetFileName(dataSource);
            return name.Length == 0 ? dataSource : name;
        }

        if (!string.IsNullOrEmpty(database))
        {
            return database;
        }

        return dataSource ?? string.Empty;
    }

    private static bool Same(string? a, string? b) => ReferenceEquals(a, b) || string.Equals(a, b, StringComparison.Ordinal);

    private sealed record IdentityEntry(string Text, string? Database, string? DataSource, TemplateState State);

    private sealed record ProviderDialect(string? Provider, SqlDialect Dialect);

    private readonly record struct TextKey(string Text, SqlDialect Dialect);

    private readonly record struct TemplateKey(string Database, string Template);

    private sealed class NormalizedText : LruItem
    {
        private TemplateState? _lastState;

        public NormalizedText(string template) => Template = template;

        public string Template { get; }

        public TemplateState? LastState
        {
            get => Volatile.Read(ref _lastState);
            set => Volatile.Write(ref _lastState, value);
        }
    }
}
