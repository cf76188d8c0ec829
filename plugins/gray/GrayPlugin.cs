using Governor.Plugins.Gray.Labeling;
using Governor.Plugins.Gray.Routing;
using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;
using Governor.Rules;

namespace Governor.Plugins.Gray;

/// <summary>
/// Full-link gray release (OpenSergo traffic routing): labels traffic where it enters the governed
/// world (TrafficLabelRule), carries the label on every outbound HTTP and gRPC call the request
/// causes (W3C baggage <c>OpenSergo-Label</c> and a plain header), and routes labeled calls to the
/// instances of their lane (VirtualWorkloads, or one Kubernetes Service per lane) with fallback to
/// base. Subscribes to the inbound and outbound pipelines at order 0; never patches anything itself.
/// </summary>
public sealed class GrayPlugin : IGovernorPlugin
{
    internal const string Name = "gray";
    internal const int Order = 0;

    private readonly object _gate = new();
    private IPluginContext? _context;
    private GrayRuntime? _runtime;
    private IDisposable? _inbound;
    private IDisposable? _outbound;

    public IReadOnlyList<RuleKind> RuleKinds { get; } = new[] { TrafficLabelRuleSpec.Kind, WorkloadLabelRuleSpec.Kind, VirtualWorkloadsSpec.Kind };

    /// <summary>The running state (tests).</summary>
    internal GrayRuntime? Runtime => _runtime;

    /// <summary>Replaces the system DNS resolver (tests): whether a name exists.</summary>
    internal Func<string, CancellationToken, Task<bool>>? Resolver { get; init; }

    public void Start(IPluginContext context)
    {
        _context = context;
        var options = GrayOptions.Read(context.Settings, context.Logger);
        var stats = new GrayStats();
        var state = Compile(context, context.Rules.Current, stats);
        var runtime = new GrayRuntime(options, context.Logger, state, stats, Resolver);
        _runtime = runtime;
        context.Rules.Changed += OnRulesChanged;
        context.RegisterStatus(stats);
        // Neither handler reads durations: no clock reads are paid for gray.
        _inbound = context.Interception.Inbound.Subscribe(new InboundLabeler(runtime), Order, Name, measuresDuration: false);
        _outbound = context.Interception.Outbound.Subscribe(() => new OutboundRouter(runtime), Order, Name, measuresDuration: false);
        context.SetDetail(state.Describe(options, context.Interception.Outbound.Provider));
        context.Logger.Info("Gray: {Detail}", state.Describe(options, context.Interception.Outbound.Provider));
    }

    public void Stop()
    {
        lock (_gate)
        {
            if (_context is not null)
            {
                _context.Rules.Changed -= OnRulesChanged;
            }

            _inbound?.Dispose();
            _outbound?.Dispose();
            _inbound = null;
            _outbound = null;
            _runtime?.Dispose();
            _runtime = null;
        }
    }

    private void OnRulesChanged(RuleSet rules)
    {
        lock (_gate)
        {
            var runtime = _runtime;
            var context = _context;
            if (runtime is null || context is null)
            {
                return;
            }

            var state = Compile(context, rules, runtime.Stats);
            runtime.Publish(state);
            context.SetDetail(state.Describe(runtime.Options, context.Interception.Outbound.Provider));
        }
    }

    private static GrayState Compile(IPluginContext context, RuleSet rules, GrayStats stats) =>
        GrayState.Compile(rules, context.Agent.AppName, context.Agent.Tag, stats, message => context.Logger.Warn("Gray: {Message}", message));
}
