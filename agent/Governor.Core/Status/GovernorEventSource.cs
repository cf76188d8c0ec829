using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Governor.Core.Status;

/// <summary>
/// The <c>Governor</c> EventSource. EventCounters (for dotnet-counters): plugin counts and every
/// plugin counter summed over resources, named <c>&lt;plugin&gt;-&lt;counter&gt;</c>. Events: the whole
/// status as JSON (<see cref="Status"/>, event 1) when a listener enables the source and then
/// every interval and on every state change — what <c>governor status</c> reads over EventPipe —
/// and plugin state transitions (event 2). Nothing is computed while no listener is enabled.
/// </summary>
[EventSource(Name = "Governor")]
internal sealed class GovernorEventSource : EventSource
{
    public static readonly GovernorEventSource Log = new();

    private readonly ConcurrentDictionary<string, IncrementingPollingCounter> _counters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);
    private StatusHub? _hub;
    private Func<(int Started, int Failed, int Total)>? _pluginCounts;
    private PollingCounter? _started;
    private PollingCounter? _failed;
    private PollingCounter? _total;
    private Timer? _timer;

    private GovernorEventSource()
        : base(EventSourceSettings.EtwSelfDescribingEventFormat)
    {
    }

    // [NonEvent]: EventSource treats every public void method as an event and numbers it
    // implicitly; without this, Attach would take ID 1 and the whole source would fail to enable
    // ("Event Status has ID 1 which is already in use"), so no listener ever got a status.
    [NonEvent]
    public void Attach(StatusHub hub, Func<(int Started, int Failed, int Total)> pluginCounts)
    {
        _hub = hub;
        _pluginCounts = pluginCounts;
        hub.StateChanged += () =>
        {
            if (IsEnabled())
            {
                PublishStatus();
            }
        };

        // A listener may have enabled the source before the agent attached.
        if (IsEnabled())
        {
            EnsureCounters();
            PublishStatus();
        }
    }

    [Event(1, Level = EventLevel.Informational, Message = "Governor status")]
    public void Status(string json) => WriteEvent(1, json);

    [Event(2, Level = EventLevel.Informational, Message = "Plugin {0} is {1}: {2}")]
    public void PluginStateChanged(string plugin, string state, string reason) => WriteEvent(2, plugin, state, reason);

    protected override void OnEventCommand(EventCommandEventArgs command)
    {
        try
        {
            if (command.Command == EventCommand.Enable)
            {
                EnsureCounters();
                _timer ??= new Timer(_ => OnTick(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
                PublishStatus();
            }
            else if (command.Command == EventCommand.Disable && !IsEnabled())
            {
                _timer?.Dispose();
                _timer = null;
            }
        }
        catch (Exception)
        {
            // A listener's command must never fail inside the app.
        }
    }

    private void OnTick()
    {
        if (!IsEnabled())
        {
            return;
        }

        PublishStatus();
    }

    private void PublishStatus()
    {
        var hub = _hub;
        if (hub is null)
        {
            return;
        }

        try
        {
            RefreshCounters(hub);
            Status(hub.RenderJson());
        }
        catch (Exception)
        {
            // Best effort: a failed collection skips one tick.
        }
    }

    private void EnsureCounters()
    {
        if (_started is not null || _pluginCounts is null)
        {
            return;
        }

        _started = new PollingCounter("plugins-started", this, () => _pluginCounts().Started) { DisplayName = "Plugins started" };
        _failed = new PollingCounter("plugins-failed", this, () => _pluginCounts().Failed) { DisplayName = "Plugins failed" };
        _total = new PollingCounter("plugins-total", this, () => _pluginCounts().Total) { DisplayName = "Plugins discovered" };
    }

    private void RefreshCounters(StatusHub hub)
    {
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var r in hub.CollectResources())
        {
            foreach (var (name, value) in r.Counters)
            {
                string key = $"{r.Plugin}-{name}";
                sums[key] = sums.TryGetValue(key, out long s) ? s + value : value;
            }
        }

        foreach (var (key, value) in sums)
        {
            _totals[key] = value;
            _counters.GetOrAdd(key, k => new IncrementingPollingCounter(k, this, () => _totals.TryGetValue(k, out long v) ? v : 0) { DisplayName = k, DisplayRateTimeScale = TimeSpan.FromSeconds(1) });
        }
    }

    protected override void Dispose(bool disposing)
    {
        _timer?.Dispose();
        _started?.Dispose();
        _failed?.Dispose();
        _total?.Dispose();
        base.Dispose(disposing);
    }
}
