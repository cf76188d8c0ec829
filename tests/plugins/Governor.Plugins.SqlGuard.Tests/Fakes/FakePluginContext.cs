using Governor.Interception;
using Governor.Patching;
using Governor.Rules;
using Governor.Status;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>A hand-written plugin context: real interception hub, rules and settings under test control.</summary>
internal sealed class FakePluginContext : IPluginContext
{
    private readonly CancellationTokenSource _stopping = new();

    public FakePluginContext(RuleSet? rules = null, IReadOnlyDictionary<string, string>? settings = null, string appName = "shop-api")
    {
        RuleSource = new FakeRuleSource(rules ?? RuleSet.Empty);
        FakeSettings = new FakeSettings(settings ?? new Dictionary<string, string>());
        Agent = new AgentInfo("0.1.0", "/governor", "/tmp/governor", appName, null, Environment.ProcessId);
    }

    public string PluginName => "sqlguard";

    public AgentInfo Agent { get; }

    public RecordingLogger Log { get; } = new();

    public IGovernorLogger Logger => Log;

    public FakeSettings FakeSettings { get; }

    public IPluginSettings Settings => FakeSettings;

    public FakeRuleSource RuleSource { get; }

    public IRuleSource Rules => RuleSource;

    public InterceptionHub Interception { get; } = new();

    public IPatchEngine? Patching => null;

    public string? PatchingUnavailableReason => "not in unit tests";

    public List<IStatusProvider> StatusProviders { get; } = new();

    public string? Detail { get; private set; }

    public CancellationToken Stopping => _stopping.Token;

    public void RegisterStatus(IStatusProvider provider) => StatusProviders.Add(provider);

    public void SetDetail(string detail) => Detail = detail;
}

internal sealed class FakeRuleSource : IRuleSource
{
    private RuleSet _current;

    public FakeRuleSource(RuleSet current) => _current = current;

    public RuleSet Current => _current;

    public IReadOnlyList<RuleError> Errors => Array.Empty<RuleError>();

    public event Action<RuleSet>? Changed;

    public int Subscribers => Changed?.GetInvocationList().Length ?? 0;

    /// <summary>Publishes new rules the way the agent does: snapshot first, then the event.</summary>
    public void Publish(RuleSet rules)
    {
        _current = rules;
        Changed?.Invoke(rules);
    }
}

internal sealed class FakeSettings : IPluginSettings
{
    private readonly IReadOnlyDictionary<string, string> _values;

    public FakeSettings(IReadOnlyDictionary<string, string> values) => _values = values;

    public string? GetString(string key) => _values.TryGetValue(key, out string? v) ? v : null;

    public bool GetBool(string key, bool defaultValue) => GetString(key) is { } v ? bool.Parse(v) : defaultValue;

    public int GetInt(string key, int defaultValue, int min = int.MinValue, int max = int.MaxValue) => GetString(key) is { } v ? Math.Clamp(int.Parse(v, System.Globalization.CultureInfo.InvariantCulture), min, max) : defaultValue;

    public double GetDouble(string key, double defaultValue, double min = double.MinValue, double max = double.MaxValue) => GetString(key) is { } v ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : defaultValue;

    public TimeSpan GetDuration(string key, TimeSpan defaultValue) => GetString(key) is { } v && Governor.Rules.SpecReader.TryParseDuration(v, TimeSpan.FromSeconds(1), out var d) ? d : defaultValue;

    public string GetChoice(string key, string defaultValue, params string[] allowed) => GetString(key) ?? defaultValue;

    public IReadOnlyList<string> GetList(string key) => GetString(key)?.Split(',') ?? Array.Empty<string>();

    public string? GetGlobal(string key) => null;
}
