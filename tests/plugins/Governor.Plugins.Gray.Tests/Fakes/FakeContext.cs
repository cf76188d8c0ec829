using System.Globalization;
using Governor.Interception;
using Governor.Patching;
using Governor.Rules;
using Governor.Status;

namespace Governor.Plugins.Gray.Tests.Fakes;

/// <summary>What the agent gives a plugin, with a real <see cref="InterceptionHub"/> and rules that tests can change.</summary>
internal sealed class FakeContext : IPluginContext
{
    public FakeContext(RuleSet rules, string appName = "gateway", string? tag = null, Dictionary<string, string>? settings = null)
    {
        Agent = new AgentInfo("0.1.0", "/governor", "/tmp/governor", appName, tag, Environment.ProcessId);
        RuleSource = new FakeRuleSource(rules);
        Settings = new FakeSettings(settings ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));
    }

    public string PluginName => "gray";

    public AgentInfo Agent { get; }

    public ListLogger Log { get; } = new();

    public IGovernorLogger Logger => Log;

    public IPluginSettings Settings { get; }

    public FakeRuleSource RuleSource { get; }

    public IRuleSource Rules => RuleSource;

    public InterceptionHub Interception { get; } = new();

    public IPatchEngine? Patching => null;

    public string? PatchingUnavailableReason => "unit tests";

    public List<IStatusProvider> StatusProviders { get; } = new();

    public string? Detail { get; private set; }

    public CancellationToken Stopping => CancellationToken.None;

    public void RegisterStatus(IStatusProvider provider) => StatusProviders.Add(provider);

    public void SetDetail(string detail) => Detail = detail;

    public RecordingCollector CollectStatus()
    {
        var collector = new RecordingCollector();
        foreach (var provider in StatusProviders)
        {
            provider.Collect(collector);
        }

        return collector;
    }
}

internal sealed class FakeRuleSource : IRuleSource
{
    public FakeRuleSource(RuleSet rules) => Current = rules;

    public event Action<RuleSet>? Changed;

    public RuleSet Current { get; private set; }

    public IReadOnlyList<RuleError> Errors => Array.Empty<RuleError>();

    public void Publish(RuleSet rules)
    {
        Current = rules;
        Changed?.Invoke(rules);
    }
}

internal sealed class FakeSettings : IPluginSettings
{
    private readonly Dictionary<string, string> _values;

    public FakeSettings(Dictionary<string, string> values) => _values = values;

    public string? GetString(string key) => _values.TryGetValue(key, out string? value) ? value : null;

    public bool GetBool(string key, bool defaultValue) => GetString(key) is { } v && bool.TryParse(v, out bool b) ? b : defaultValue;

    public int GetInt(string key, int defaultValue, int min = int.MinValue, int max = int.MaxValue) =>
        GetString(key) is { } v && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) && i >= min && i <= max ? i : defaultValue;

    public double GetDouble(string key, double defaultValue, double min = double.MinValue, double max = double.MaxValue) =>
        GetString(key) is { } v && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d >= min && d <= max ? d : defaultValue;

    public TimeSpan GetDuration(string key, TimeSpan defaultValue) =>
        GetString(key) is { } v && SpecReader.TryParseDuration(v, TimeSpan.FromSeconds(1), out var t) ? t : defaultValue;

    public string GetChoice(string key, string defaultValue, params string[] allowed)
    {
        string? value = GetString(key);
        foreach (string a in allowed)
        {
            if (string.Equals(a, value, StringComparison.OrdinalIgnoreCase))
            {
                return a;
            }
        }

        return defaultValue;
    }

    public IReadOnlyList<string> GetList(string key) => GetString(key)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? Array.Empty<string>();

    public string? GetGlobal(string key) => null;
}

internal sealed class ListLogger : IGovernorLogger
{
    private readonly List<string> _lines = new();

    public GovernorLogLevel Level { get; set; } = GovernorLogLevel.Debug;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.ToArray();
            }
        }
    }

    public bool IsEnabled(GovernorLogLevel level) => level >= Level;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
        // Good enough for assertions: the template with its arguments appended.
        string line = $"{level}: {messageTemplate} | {string.Join(" | ", args)}{(exception is null ? string.Empty : " | " + exception.Message)}";
        lock (_lines)
        {
            _lines.Add(line);
        }
    }
}

internal sealed class RecordingCollector : StatusCollector
{
    public Dictionary<(string Resource, string Name), long> Counters { get; } = new();

    public Dictionary<string, string> States { get; } = new();

    public override void Counter(string resource, string name, long value) => Counters[(resource, name)] = value;

    public override void Gauge(string resource, string name, double value)
    {
    }

    public override void State(string resource, string state) => States[resource] = state;

    public long Get(string resource, string name) => Counters.TryGetValue((resource, name), out long v) ? v : 0;
}
