using Governor.Core.Settings;
using Governor.Core.Status;
using Governor.Interception;
using Governor.Patching;
using Governor.Rules;
using Governor.Status;

namespace Governor.Core.Plugins;

/// <summary>What one plugin gets from the agent. Tracks what the plugin registered so stopping it undoes that.</summary>
internal sealed class PluginContext : IPluginContext, IDisposable
{
    private readonly PluginRuntime _runtime;
    private readonly StatusHub _status;
    private readonly CancellationTokenSource _stopping = new();
    private readonly PluginRuleSource _rules;

    public PluginContext(PluginRuntime runtime, AgentInfo agent, IGovernorLogger logger, SettingsReader settings, IRuleSource rules, InterceptionHub interception, IPatchEngine? patching, string? patchingUnavailableReason, StatusHub status)
    {
        _runtime = runtime;
        _status = status;
        PluginName = runtime.Name;
        Agent = agent;
        Logger = logger;
        Settings = new PluginSettings(settings, runtime.Name);
        _rules = new PluginRuleSource(rules, logger);
        Interception = interception;
        Patching = patching;
        PatchingUnavailableReason = patchingUnavailableReason;
    }

    public string PluginName { get; }

    public AgentInfo Agent { get; }

    public IGovernorLogger Logger { get; }

    public IPluginSettings Settings { get; }

    public IRuleSource Rules => _rules;

    public InterceptionHub Interception { get; }

    public IPatchEngine? Patching { get; }

    public string? PatchingUnavailableReason { get; }

    public CancellationToken Stopping => _stopping.Token;

    public void RegisterStatus(IStatusProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _status.Register(PluginName, provider);
    }

    public void SetDetail(string detail)
    {
        _runtime.Detail = detail;
        _status.NotifyStateChanged();
    }

    public void SignalStopping()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (AggregateException)
        {
            // A plugin's cancellation callback threw; it is stopping anyway.
        }
    }

    public void Dispose()
    {
        _rules.Dispose();
        _status.UnregisterAll(PluginName);
        _stopping.Dispose();
    }

    /// <summary>Forwards rule changes to one plugin, attributing its handler failures to it, and detaches on stop.</summary>
    private sealed class PluginRuleSource : IRuleSource, IDisposable
    {
        private readonly IRuleSource _inner;
        private readonly IGovernorLogger _log;
        private Action<RuleSet>? _handlers;

        public PluginRuleSource(IRuleSource inner, IGovernorLogger log)
        {
            _inner = inner;
            _log = log;
            _inner.Changed += OnChanged;
        }

        public event Action<RuleSet>? Changed
        {
            add => _handlers += value;
            remove => _handlers -= value;
        }

        public RuleSet Current => _inner.Current;

        public IReadOnlyList<RuleError> Errors => _inner.Errors;

        public void Dispose()
        {
            _inner.Changed -= OnChanged;
            _handlers = null;
        }

        private void OnChanged(RuleSet set)
        {
            foreach (var handler in _handlers?.GetInvocationList() ?? Array.Empty<Delegate>())
            {
                try
                {
                    ((Action<RuleSet>)handler)(set);
                }
                catch (Exception ex)
                {
                    _log.Error(ex, "Applying rules version {Version} failed; the plugin keeps its previous rules", set.Version);
                }
            }
        }
    }
}
