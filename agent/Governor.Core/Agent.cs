using System.Diagnostics;
using System.Reflection;
using Governor.Core.Logging;
using Governor.Core.Plugins;
using Governor.Core.Rules;
using Governor.Core.Settings;
using Governor.Core.Status;
using Governor.Interception;
using Governor.Patching;

namespace Governor.Core;

/// <summary>
/// The running agent: settings, log, patching, plugins, rules and status, wired together once at
/// startup. Every entry point catches everything: the agent never takes the app down.
/// </summary>
internal sealed class Agent
{
    public const string Version = "0.1.0";

    private static Agent? s_instance;

    private readonly object _toggleGate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private readonly string _home;
    private SettingsStore _settings;
    private SettingsReader _reader = null!;
    private AgentLog? _agentLog;
    private readonly DeferredLogger _earlyLog = new();
    private readonly HostingStartups _hostingStartups = new();
    private IGovernorLogger _log;
    private AgentInfo _info = null!;
    private PluginManager _plugins = null!;
    private RuleStore _rules = null!;
    private StatusHub _status = null!;
    private StatusFileWriter? _statusFile;
    private GovernorMeter? _meter;
    private IPatchEngine? _patching;
    private string? _patchingReason;
    private string? _configPath;
    private byte[]? _configHash;
    private Timer? _configTimer;
    private Timer? _settleTimer;
    private FileSystemWatcher? _configWatcher;
    private string _summary = string.Empty;
    private int _stopped;
    private readonly ManualResetEventSlim _startDone = new(false);
    private readonly List<KeyValuePair<string, double>> _phases = new();

    /// <summary>AppContext key of a ManualResetEventSlim set when the agent's start is over (for the ASP.NET Core bootstrap).</summary>
    public const string StartingKey = "Governor.Starting";

    private Agent(string home, SettingsStore settings)
    {
        _home = home;
        _settings = settings;
        _log = _earlyLog;
    }

    /// <summary>The process-wide interception points (plugins provide and subscribe).</summary>
    public static InterceptionHub Interception { get; } = new();

    public static Agent? Instance => Volatile.Read(ref s_instance);

    public string Summary => _summary;

    /// <summary>Milliseconds since the agent started at the end of each startup phase (shown in status).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> StartupPhases => PhasesSnapshot();

    private KeyValuePair<string, double>[] PhasesSnapshot()
    {
        lock (_phases)
        {
            return _phases.ToArray();
        }
    }

    private void Phase(string name)
    {
        // The hook's thread and the start thread both record phases.
        lock (_phases)
        {
            _phases.Add(new(name, Math.Round(_clock.Elapsed.TotalMilliseconds, 2)));
        }
    }

    public static void Start(string home)
    {
        if (Interlocked.CompareExchange(ref s_instance, null, null) is not null)
        {
            return;
        }

        var args = Environment.GetCommandLineArgs().Skip(1).ToArray();
        var settings = SettingsStore.Load(args, Environment.GetEnvironmentVariables(), null);
        var agent = new Agent(home, settings);
        Volatile.Write(ref s_instance, agent);
        agent.Run();
    }

    /// <summary>
    /// Before the app's Main (on the startup hook's thread) only what must precede app code:
    /// settings, the plugin manifests, and what manifests ask to be in place before Main (ASP.NET
    /// Core hosting startups). Everything else (log, patch engine, plugin loads and starts, rules,
    /// status) runs on a thread of its own alongside the app, with the startup gate closed: a
    /// request, outbound call or SQL command intercepted before the plugins have started waits
    /// for them. <c>governor:startup:mode=blocking</c> does it all before Main instead.
    /// </summary>
    private void Run()
    {
        _configPath = _settings.Get("config")?.Value ?? Path.Combine(_home, "governor.json");
        _settings = _settings.WithFile(_configPath);
        _configHash = HashOf(_configPath);
        _reader = new SettingsReader(() => Volatile.Read(ref _settings), m => _log.Warn("{Message}", m));
        foreach (string problem in _settings.Problems)
        {
            _log.Warn("{Message}", problem);
        }

        Phase("settings");
        _status = new StatusHub();
        _status.SetFactsSource(Facts);
        _plugins = new PluginManager(_log, OnPluginStateChanged);
        _plugins.Discover(Path.Combine(_home, "plugins"));
        _plugins.WarnUnknownNames(_settings, m => _log.Warn("{Message}", m));
        var toStart = new List<PluginRuntime>();
        foreach (var plugin in _plugins.Plugins.Where(p => p.Manifest is not null && p.State == PluginState.Discovered))
        {
            var (enabled, reason) = PluginManager.ResolveEnabled(plugin.Manifest!, _settings, m => _log.Warn("{Message}", m));
            if (enabled)
            {
                toStart.Add(plugin);
            }
            else
            {
                plugin.Transition(PluginState.Disabled, reason);
            }
        }

        _hostingStartups.Announce(toStart, _log);
        Phase("discover");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Shutdown();
        var startTimeout = _reader.GetDuration("plugins:startTimeout", PluginManager.DefaultStartTimeout);
        if (StartupMode() == "blocking")
        {
            StartAlongside(toStart, startTimeout);
            Phase("main");
            return;
        }

        // Closed before Main, so that no intercepted call slips past plugins that are still starting.
        var gate = Interception.Startup;
        gate.HoldTimeout = _reader.GetDuration("startup:holdTimeout", gate.HoldTimeout);
        gate.Log = _log;
        gate.Close();
        AppContext.SetData(StartingKey, _startDone);
        var thread = new Thread(() => StartAlongside(toStart, startTimeout))
        {
            IsBackground = true,
            Name = "Governor start",
        };
        thread.Start();
        Phase("main");
    }

    private void StartAlongside(List<PluginRuntime> plugins, TimeSpan startTimeout)
    {
        try
        {
            StartRest(plugins, startTimeout);
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Starting the plugins failed; the app goes on without those not started");
        }
        finally
        {
            Interception.Startup.Open();
            _startDone.Set();
        }
    }

    /// <summary>Log, patch engine, plugin loads, rules, plugin starts (order groups), then status and the settings watch.</summary>
    private void StartRest(List<PluginRuntime> plugins, TimeSpan startTimeout)
    {
        string appName = _reader.GetString("app") ?? Assembly.GetEntryAssembly()?.GetName().Name ?? "app";
        string? tag = _reader.GetString("tag") is { Length: > 0 } t ? t : null;
        string logDir = StartLog(appName);
        _info = new AgentInfo(Version, _home, logDir, appName, tag, Environment.ProcessId);
        AppContext.SetData("Governor.ReportDuplicate", (Action<string>)(m => _log.Warn("{Message}", m)));
        Phase("log");
        _rules = new RuleStore(RulesDirectory(), () => _plugins.Kinds(), _log);
        _rules.Prefetch();
        StartPatching();
        Phase("patching");

        var toStart = plugins.Where(_plugins.Load).ToList();
        Phase("load");
        WarnReadyToRun(toStart);

        // Rules are read after the enabled plugins declared their kinds and before they start,
        // so every plugin sees its rules in Start.
        _rules.Scan(force: true);
        Phase("rules");
        _plugins.Start(toStart, CreateContext, startTimeout);
        Phase("start");

        // Governance is in place: release the calls that waited. What only observes (status
        // publication, file watchers) waits for the app's startup to settle.
        Interception.Startup.Open();
        _rules.Changed += _ => _status.NotifyStateChanged();
        _configTimer = new Timer(_ => SafeReloadConfig(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        _summary = BuildSummary(_clock.Elapsed);
        _log.Info("{Summary}", _summary);
        _log.Debug("The start thread JIT-compiled {Methods} methods in {Ms:0.0} ms (the rest of its time is precompiled code, I/O and waits)", System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true), System.Runtime.JitInfo.GetCompilationTime(currentThread: true).TotalMilliseconds);
        var settle = SettleDelay();
        if (settle <= TimeSpan.Zero)
        {
            Settle();
        }
        else
        {
            _settleTimer = new Timer(_ => Settle(), null, settle, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Rule and settings file watchers, then status publication (file, EventSource, Meter).</summary>
    private void Settle()
    {
        try
        {
            lock (_toggleGate)
            {
                if (Volatile.Read(ref _stopped) != 0)
                {
                    return;
                }

                _rules.StartWatching(TimeSpan.FromSeconds(1));
                WatchConfig();
                StartStatus();
                Phase("status");
                _status.NotifyStateChanged();
            }
        }
        catch (Exception ex)
        {
            _log.Warn(ex, "Status publication or file watching could not start; governance is not affected");
        }
    }

    /// <summary>
    /// How long work that governance does not need waits after the agent's start (setting
    /// <c>startup:settleDelay</c>, default 1 s): opening the log file, the patch engine's
    /// self-test, status publication and file watchers, so that they do not compete with the
    /// app's own startup for the CPU.
    /// </summary>
    private TimeSpan SettleDelay()
    {
        var delay = _reader.GetDuration("startup:settleDelay", TimeSpan.FromSeconds(1));
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }

    /// <summary>"background" (default) or "blocking" (setting <c>startup:mode</c>); a bad value warns and uses the default.</summary>
    private string StartupMode()
    {
        var setting = _settings.Get("startup:mode");
        if (setting is null || setting.Value.Equals("background", StringComparison.OrdinalIgnoreCase))
        {
            return "background";
        }

        if (setting.Value.Equals("blocking", StringComparison.OrdinalIgnoreCase))
        {
            return "blocking";
        }

        _log.Warn("Setting governor:startup:mode = '{Value}' (from {Source}) is not valid: use background (governance plugins start alongside the app; intercepted calls wait for them) or blocking (everything starts before the app's Main). Using background.", setting.Value, setting.Source);
        return "background";
    }

    /// <summary>One warning for all plugins that want framework assemblies JIT-compiled (see ReadyToRunCheck).</summary>
    private void WarnReadyToRun(IReadOnlyList<PluginRuntime> starting)
    {
        string? warning = ReadyToRunCheck.Warning(starting.Where(p => p.Manifest is not null).Select(p => p.Manifest!), Environment.GetEnvironmentVariable(ReadyToRunCheck.Variable));
        if (warning is not null)
        {
            _log.Warn("{Message}", warning);
        }
    }

    private string StartLog(string appName)
    {
        string logDir = _reader.GetString("log:dir") is { Length: > 0 } d ? d : Path.Combine(Path.GetTempPath(), "governor");
        var level = GovernorLogLevel.Information;
        string? levelText = _reader.GetString("log:level");
        bool badLevel = levelText is not null && !AgentLog.TryParseLevel(levelText, out level);
        bool stderr = _reader.GetBool("log:stderr", false);
        _agentLog = AgentLog.Start(logDir, appName, Environment.ProcessId, level, stderr, SettleDelay());
        _log = _agentLog.For("agent");
        _earlyLog.Attach(_log);
        if (badLevel)
        {
            _log.Warn("Setting governor:log:level = '{Value}' is not valid: use Verbose, Debug, Information, Warning, Error or Fatal. Using Information.", levelText);
        }

        return logDir;
    }

    private void StartPatching()
    {
        var setting = _settings.Get("patching");
        if (setting is not null && SettingsReader.TryParseBool(setting.Value, out bool on) && !on)
        {
            _patchingReason = $"patching is turned off by {setting.Source}";
            _log.Info("Patching is off ({Source}); plugins use hook-only paths where they have one", setting.Source);
            return;
        }

        _patching = PatchingHost.TryInitialize(_agentLog!.For("patching"), SettleDelay(), out _patchingReason);

        // The engine's self-test runs in the background (see PatchEngineBootstrap); republish the
        // status when it has finished.
        _patching?.Ready.ContinueWith(_ => _status.NotifyStateChanged(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private PluginContext CreateContext(PluginRuntime plugin) =>
        new(plugin, _info, _agentLog!.For(plugin.Name), _reader, _rules, Interception, _patching?.UnavailableReason is null ? _patching : null, _patchingReason ?? _patching?.UnavailableReason, _status);

    private string RulesDirectory() => _reader.GetString("rules:dir") is { Length: > 0 } dir ? dir : Path.Combine(_home, "rules");

    private void StartStatus()
    {
        try
        {
            var interval = _reader.GetDuration("status:interval", TimeSpan.FromSeconds(2));
            _statusFile = new StatusFileWriter(_status, () => _agentLog!.Directory, _info.ProcessId, _log, interval < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : interval);
            GovernorEventSource.Log.Attach(_status, PluginCounts);
            _meter = new GovernorMeter(Version, _status, PluginStatuses);
        }
        catch (Exception ex)
        {
            _log.Warn(ex, "Status publication could not start; governance is not affected");
        }
    }

    private (int Started, int Failed, int Total) PluginCounts()
    {
        var all = _plugins.Plugins;
        return (all.Count(p => p.State == PluginState.Started), all.Count(p => p.State == PluginState.Failed), all.Count);
    }

    private IReadOnlyList<PluginStatus> PluginStatuses() =>
        _plugins.Plugins.Select(p => new PluginStatus(p.Name, p.Manifest?.Version ?? "?", p.State.ToString(), p.Reason, p.Detail, p.StartMilliseconds, p.Manifest?.InterceptionPoints ?? Array.Empty<string>(), p.Manifest?.Description ?? string.Empty)).ToList();

    private StatusFacts Facts()
    {
        var points = new[]
        {
            Point(Interception.Inbound.Name, Interception.Inbound.Provider, Interception.Inbound.ProviderDetail, Interception.Inbound.Owners),
            Point(Interception.Outbound.Name, Interception.Outbound.Provider, Interception.Outbound.ProviderDetail, Interception.Outbound.Owners),
            Point(Interception.Sql.Name, Interception.Sql.Provider, Interception.Sql.ProviderDetail, Interception.Sql.Owners),
        };
        var rules = _rules.Current;
        return new StatusFacts(Version, _info.ProcessId, _info.AppName, _info.Tag, _home, _agentLog?.FilePath ?? string.Empty, _startedAt, _summary,
            PatchingHost.Describe(_patching, _patchingReason),
            PluginStatuses(), points, PhasesSnapshot(), _rules.Directory, rules.Version, rules.Documents.Count,
            _rules.Errors.Select(e => e.ToString()).ToList(), _rules.Notes);

        static InterceptionPointStatus Point(string name, string? provider, string? detail, IReadOnlyList<string> owners) => new(name, provider, detail, owners);
    }

    private string BuildSummary(TimeSpan elapsed)
    {
        var all = _plugins.Plugins;
        int started = all.Count(p => p.State == PluginState.Started);
        var notes = all.Where(p => p.State is PluginState.Disabled or PluginState.Failed)
            .Select(p => p.State == PluginState.Disabled ? $"{p.Name} {p.Reason}" : $"{p.Name} failed: {p.Reason}");
        string tail = string.Join("; ", notes);
        return $"Governor {Version}: {started}/{all.Count} plugins started in {elapsed.TotalMilliseconds:0} ms{(tail.Length > 0 ? $" ({tail})" : string.Empty)}";
    }

    private void OnPluginStateChanged(PluginRuntime plugin)
    {
        try
        {
            if (GovernorEventSource.Log.IsEnabled())
            {
                GovernorEventSource.Log.PluginStateChanged(plugin.Name, plugin.State.ToString(), plugin.Reason ?? string.Empty);
            }

            _status?.NotifyStateChanged();
        }
        catch (Exception)
        {
            // Status is informational; never let it fail a transition.
        }
    }

    private void SafeReloadConfig()
    {
        try
        {
            ReloadConfigIfChanged();
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Applying a change of {Config} failed; the previous settings stay in force", _configPath);
        }
    }

    // A change applies at once through the watcher; the 1 s poll stays for what watchers miss
    // (ConfigMap symlink swaps, network file systems, inotify limits).
    private void WatchConfig()
    {
        try
        {
            string? directory = Path.GetDirectoryName(Path.GetFullPath(_configPath!));
            if (directory is null || !Directory.Exists(directory))
            {
                return;
            }

            var watcher = new FileSystemWatcher(directory, Path.GetFileName(_configPath!))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            FileSystemEventHandler changed = (_, _) => SafeReloadConfig();
            watcher.Changed += changed;
            watcher.Created += changed;
            watcher.Deleted += changed;
            watcher.Renamed += (_, _) => SafeReloadConfig();
            watcher.EnableRaisingEvents = true;
            _configWatcher = watcher;
        }
        catch (Exception ex)
        {
            _log.Warn("Watching {Config} for changes failed ({Reason}); changes are picked up by polling every second", _configPath, ex.Message);
        }
    }

    /// <summary>governor.json is watched: log level and plugin toggles apply without restart.</summary>
    private void ReloadConfigIfChanged()
    {
        // The watcher and the poll may run at once: compare and apply under the same lock.
        lock (_toggleGate)
        {
            byte[]? hash = HashOf(_configPath!);
            if (hash is not null && _configHash is not null ? hash.AsSpan().SequenceEqual(_configHash) : hash == _configHash)
            {
                return;
            }

            if (Volatile.Read(ref _stopped) != 0)
            {
                return;
            }

            _configHash = hash;
            var next = _settings.WithFile(_configPath);
            foreach (string problem in next.Problems)
            {
                _log.Warn("{Message}", problem);
            }

            if (hash is not null && next.Problems.Any(p => p.Contains("the file is ignored", StringComparison.Ordinal)))
            {
                // Unreadable or half-written (the watcher can fire mid-write): keep what is in force
                // rather than falling back to defaults, which would flip plugin toggles back and forth.
                _log.Warn("Settings file {Config} could not be read; the previous settings stay in force", _configPath);
                return;
            }

            Volatile.Write(ref _settings, next);
            _log.Info("Settings file {Config} changed; applying", _configPath);
            string? levelText = _reader.GetString("log:level");
            if (levelText is not null && AgentLog.TryParseLevel(levelText, out var level))
            {
                _agentLog?.SetLevel(level);
            }

            _plugins.WarnUnknownNames(next, m => _log.Warn("{Message}", m));
            var toStart = new List<PluginRuntime>();
            bool kindsChanged = false;
            foreach (var plugin in _plugins.Plugins.Where(p => p.Manifest is not null))
            {
                var (enabled, reason) = PluginManager.ResolveEnabled(plugin.Manifest!, next, m => _log.Warn("{Message}", m));
                if (!enabled && plugin.State == PluginState.Started)
                {
                    _plugins.Stop(plugin, PluginManager.DefaultStopTimeout, PluginState.Disabled, reason);
                    kindsChanged = true;
                }
                else if (!enabled && plugin.State is PluginState.Discovered or PluginState.Stopped)
                {
                    plugin.Transition(PluginState.Disabled, reason);
                    OnPluginStateChanged(plugin);
                }
                else if (enabled && plugin.State is PluginState.Disabled or PluginState.Stopped)
                {
                    if (_plugins.Load(plugin))
                    {
                        toStart.Add(plugin);
                    }
                }
            }

            if (toStart.Count > 0)
            {
                // Kinds first, so a plugin that starts now sees its rules.
                _rules.Revalidate(() => KindsIncluding(toStart));
                _plugins.Start(toStart, CreateContext, _reader.GetDuration("plugins:startTimeout", PluginManager.DefaultStartTimeout));
                kindsChanged = true;
            }

            if (kindsChanged)
            {
                _rules.Revalidate(() => _plugins.Kinds());
            }

            _summary = BuildSummary(_clock.Elapsed);
            _status.NotifyStateChanged();
        }
    }

    private RuleKindRegistry KindsIncluding(IReadOnlyList<PluginRuntime> starting)
    {
        var baseKinds = _plugins.Kinds();
        return new RuleKindRegistry(baseKinds.Kinds.Concat(starting.SelectMany(p => p.RuleKinds)), baseKinds.InactiveKinds.Where(k => starting.All(s => s.Name != k.Value)).ToDictionary(k => k.Key, k => k.Value));
    }

    private void Shutdown()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            // A process that exits while governance plugins still start (a short console app):
            // let the start finish, briefly, so that what started is stopped in order.
            _startDone.Wait(TimeSpan.FromSeconds(3));
            lock (_toggleGate)
            {
                _settleTimer?.Dispose();
                _configTimer?.Dispose();
                _configWatcher?.Dispose();
                _rules?.Dispose();
                _plugins.StopAll(_reader.GetDuration("plugins:stopTimeout", TimeSpan.FromSeconds(5)));
                _statusFile?.Dispose();
                _meter?.Dispose();
                _log.Info("Governor stopped");
                _agentLog?.Dispose();
            }
        }
        catch (Exception)
        {
            // The process is exiting; nothing may delay or fail that.
        }
    }

    private static byte[]? HashOf(string path)
    {
        try
        {
            // The settings file is small; its bytes are its identity (no hash: that would load OpenSSL).
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
