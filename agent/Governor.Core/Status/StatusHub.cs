using System.Text;
using System.Text.Json;
using Governor.Status;

namespace Governor.Core.Status;

/// <summary>One plugin as the status reports it.</summary>
internal sealed record PluginStatus(string Name, string Version, string State, string? Reason, string? Detail, double? StartMilliseconds, IReadOnlyList<string> InterceptionPoints, string Description);

/// <summary>One counter line: plugin, resource, counters, gauges, state.</summary>
internal sealed class ResourceStatus
{
    public ResourceStatus(string plugin, string resource)
    {
        Plugin = plugin;
        Resource = resource;
    }

    public string Plugin { get; }

    public string Resource { get; }

    public SortedDictionary<string, long> Counters { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, double> Gauges { get; } = new(StringComparer.Ordinal);

    public string? State { get; set; }
}

/// <summary>
/// Collects the agent's status (plugins, interception points, rules, per-resource counters) and
/// renders it as the JSON document that the status file, the EventSource and the CLI share.
/// Collection runs on agent threads only (timers, EventPipe commands), never on the app's hot path.
/// </summary>
internal sealed class StatusHub
{
    private readonly object _gate = new();
    private readonly List<(string Plugin, IStatusProvider Provider)> _providers = new();
    private Func<StatusFacts>? _facts;

    /// <summary>Raised after a state change (plugin state, rules); listeners re-publish.</summary>
    public event Action? StateChanged;

    public void SetFactsSource(Func<StatusFacts> facts) => _facts = facts;

    public void Register(string plugin, IStatusProvider provider)
    {
        lock (_gate)
        {
            _providers.Add((plugin, provider));
        }
    }

    public void UnregisterAll(string plugin)
    {
        lock (_gate)
        {
            _providers.RemoveAll(p => p.Plugin == plugin);
        }
    }

    public void NotifyStateChanged()
    {
        try
        {
            StateChanged?.Invoke();
        }
        catch (Exception)
        {
            // Status publication must never fail the caller (a plugin state transition).
        }
    }

    private static readonly Comparer<(string, string)> s_ordinalKeys = Comparer<(string, string)>.Create(static (a, b) =>
    {
        int first = string.CompareOrdinal(a.Item1, b.Item1);
        return first != 0 ? first : string.CompareOrdinal(a.Item2, b.Item2);
    });

    public IReadOnlyList<ResourceStatus> CollectResources(Action<string, Exception>? onError = null)
    {
        (string Plugin, IStatusProvider Provider)[] providers;
        lock (_gate)
        {
            providers = _providers.ToArray();
        }

        // Ordinal: the default string comparer is culture-sensitive, which loads ICU's collation
        // data (about 1 MB) into every process only to sort a status file.
        var map = new SortedDictionary<(string, string), ResourceStatus>(s_ordinalKeys);
        foreach (var (plugin, provider) in providers)
        {
            try
            {
                provider.Collect(new Collector(plugin, map));
            }
            catch (Exception ex)
            {
                onError?.Invoke(plugin, ex);
            }
        }

        return map.Values.ToList();
    }

    /// <summary>The whole status as JSON (schema documented in docs/config.md, "Status file").</summary>
    public string RenderJson(Action<string, Exception>? onError = null)
    {
        var facts = _facts?.Invoke();
        var resources = CollectResources(onError);
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("schema", "governor-status/v1");
            if (facts is not null)
            {
                w.WriteString("version", facts.Version);
                w.WriteNumber("pid", facts.ProcessId);
                w.WriteString("app", facts.AppName);
                w.WriteString("tag", facts.Tag);
                w.WriteString("home", facts.Home);
                w.WriteString("logFile", facts.LogFile);
                w.WriteString("startedAt", facts.StartedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("updatedAt", DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("summary", facts.Summary);
                w.WriteString("patching", facts.Patching);
                w.WriteStartObject("startupPhasesMs");
                foreach (var (phase, ms) in facts.StartupPhases)
                {
                    w.WriteNumber(phase, ms);
                }

                w.WriteEndObject();
                w.WriteStartArray("plugins");
                foreach (var p in facts.Plugins)
                {
                    w.WriteStartObject();
                    w.WriteString("name", p.Name);
                    w.WriteString("version", p.Version);
                    w.WriteString("state", p.State);
                    w.WriteString("reason", p.Reason);
                    w.WriteString("detail", p.Detail);
                    if (p.StartMilliseconds is double ms)
                    {
                        w.WriteNumber("startMs", Math.Round(ms, 2));
                    }

                    w.WriteStartArray("interceptionPoints");
                    foreach (string point in p.InterceptionPoints)
                    {
                        w.WriteStringValue(point);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("interception");
                foreach (var point in facts.InterceptionPoints)
                {
                    w.WriteStartObject();
                    w.WriteString("point", point.Name);
                    w.WriteString("provider", point.Provider);
                    w.WriteString("detail", point.Detail);
                    w.WriteStartArray("handlers");
                    foreach (string h in point.Handlers)
                    {
                        w.WriteStringValue(h);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartObject("rules");
                w.WriteString("directory", facts.RulesDirectory);
                w.WriteNumber("version", facts.RulesVersion);
                w.WriteNumber("documents", facts.RuleDocuments);
                w.WriteStartArray("errors");
                foreach (string e in facts.RuleErrors)
                {
                    w.WriteStringValue(e);
                }

                w.WriteEndArray();
                w.WriteStartArray("notes");
                foreach (string n in facts.RuleNotes)
                {
                    w.WriteStringValue(n);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteStartArray("resources");
            foreach (var r in resources)
            {
                w.WriteStartObject();
                w.WriteString("plugin", r.Plugin);
                w.WriteString("resource", r.Resource);
                if (r.State is not null)
                {
                    w.WriteString("state", r.State);
                }

                w.WriteStartObject("counters");
                foreach (var (name, value) in r.Counters)
                {
                    w.WriteNumber(name, value);
                }

                w.WriteEndObject();
                w.WriteStartObject("gauges");
                foreach (var (name, value) in r.Gauges)
                {
                    w.WriteNumber(name, value);
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private sealed class Collector : StatusCollector
    {
        private readonly string _plugin;
        private readonly SortedDictionary<(string, string), ResourceStatus> _map;

        public Collector(string plugin, SortedDictionary<(string, string), ResourceStatus> map)
        {
            _plugin = plugin;
            _map = map;
        }

        public override void Counter(string resource, string name, long value) => Get(resource).Counters[name] = value;

        public override void Gauge(string resource, string name, double value) => Get(resource).Gauges[name] = value;

        public override void State(string resource, string state) => Get(resource).State = state;

        private ResourceStatus Get(string resource)
        {
            if (!_map.TryGetValue((_plugin, resource), out var r))
            {
                r = new ResourceStatus(_plugin, resource);
                _map[(_plugin, resource)] = r;
            }

            return r;
        }
    }
}

internal sealed record InterceptionPointStatus(string Name, string? Provider, string? Detail, IReadOnlyList<string> Handlers);

/// <summary>The agent-level facts the status shows, gathered on demand.</summary>
internal sealed record StatusFacts(
    string Version,
    int ProcessId,
    string AppName,
    string? Tag,
    string Home,
    string LogFile,
    DateTimeOffset StartedAt,
    string Summary,
    string Patching,
    IReadOnlyList<PluginStatus> Plugins,
    IReadOnlyList<InterceptionPointStatus> InterceptionPoints,
    IReadOnlyList<KeyValuePair<string, double>> StartupPhases,
    string RulesDirectory,
    long RulesVersion,
    int RuleDocuments,
    IReadOnlyList<string> RuleErrors,
    IReadOnlyList<string> RuleNotes);
