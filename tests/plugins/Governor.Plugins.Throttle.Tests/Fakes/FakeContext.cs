using System.Globalization;
using Governor.Interception;
using Governor.Patching;
using Governor.Rules;
using Governor.Core.Tests;
using Governor.Status;

namespace Governor.Plugins.Throttle.Tests.Fakes;

/// <summary>What the agent would give the plugin, with a real <see cref="InterceptionHub"/>.</summary>
internal sealed class FakeContext : IPluginContext
{
    public FakeContext(RuleSet rules, string appName = "shop", Dictionary<string, string>? settings = null)
    {
        Agent = new AgentInfo("0.1.0", "/governor", "/tmp/governor", appName, null, Environment.ProcessId);
        RuleSource = new FakeRuleSource(rules);
        SettingsValues = settings ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        Settings = new FakeSettings(SettingsValues);
    }

    public string PluginName => "throttle";

    public AgentInfo Agent { get; }

    public ListLogger Log { get; } = new();

    public IGovernorLogger Logger => Log;

    public Dictionary<string, string> SettingsValues { get; }

    public IPluginSettings Settings { get; }

    public FakeRuleSource RuleSource { get; }

    public IRuleSource Rules => RuleSource;

    public InterceptionHub Interception { get; } = new();

    public IPatchEngine? Patching => null;

    public string? PatchingUnavailableReason => "tests";

    public List<IStatusProvider> StatusProviders { get; } = new();

    public string? Detail { get; private set; }

    public CancellationToken Stopping => CancellationToken.None;

    public void RegisterStatus(IStatusProvider provider) => StatusProviders.Add(provider);

    public void SetDetail(string detail) => Detail = detail;

    /// <summary>Collects every registered provider's counters.</summary>
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
    public FakeRuleSource(RuleSet rules)
    {
        Current = rules;
    }

    public RuleSet Current { get; private set; }

    public event Action<RuleSet>? Changed;

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

    public FakeSettings(Dictionary<string, string> values)
    {
        _values = values;
    }

    public string? GetString(string key) => _values.TryGetValue(key, out string? v) ? v : null;

    public bool GetBool(string key, bool defaultValue) => GetString(key) is { } v && bool.TryParse(v, out bool b) ? b : defaultValue;

    public int GetInt(string key, int defaultValue, int min = int.MinValue, int max = int.MaxValue) =>
        GetString(key) is { } v && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) && i >= min && i <= max ? i : defaultValue;

    public double GetDouble(string key, double defaultValue, double min = double.MinValue, double max = double.MaxValue) =>
        GetString(key) is { } v && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d >= min && d <= max ? d : defaultValue;

    public TimeSpan GetDuration(string key, TimeSpan defaultValue) =>
        GetString(key) is { } v && SpecReader.TryParseDuration(v, TimeSpan.FromSeconds(1), out var t) ? t : defaultValue;

    public string GetChoice(string key, string defaultValue, params string[] allowed) =>
        GetString(key) is { } v && allowed.FirstOrDefault(a => string.Equals(a, v, StringComparison.OrdinalIgnoreCase)) is { } match ? match : defaultValue;

    public IReadOnlyList<string> GetList(string key) => GetString(key)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? Array.Empty<string>();

    public string? GetGlobal(string key) => null;
}

internal sealed class RecordingCollector : StatusCollector
{
    public Dictionary<(string Resource, string Name), long> Counters { get; } = new();

    public Dictionary<(string Resource, string Name), double> Gauges { get; } = new();

    public Dictionary<string, string> States { get; } = new();

    public override void Counter(string resource, string name, long value) => Counters[(resource, name)] = value;

    public override void Gauge(string resource, string name, double value) => Gauges[(resource, name)] = value;

    public override void State(string resource, string state) => States[resource] = state;
}
