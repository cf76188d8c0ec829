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
    private IGovernorLogger _log = NullLogger.Instance;
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
    private FileSystemWatcher? _configWatcher;
    private string _summary = string.Empty;
    private int _stopped;
    private readonly List<KeyValuePair<string, double>> _phases = new();

    private Agent(string home, SettingsStore settings)
    {
        _home = home;
        _settings = settings;
    }

    /// <summary>The process-wide interception points (plugins provide and subscribe).</summary>
    public static InterceptionHub Interception { get; } = new();

    public static Agent? Instance => Volatile.Read(ref s_instance);

    public string Summary => _summary;

    /// <summary>Milliseconds since the agent started at the end of each startup phase (shown in status).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> StartupPhases => _phases;

    private void Phase(string name) => _phases.Add(new(name, Math.Round(_clock.Elapsed.TotalMilliseconds, 2)));

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

    private void Run()
    {
        _configPath = _settings.Get("config")?.Value ?? Path.Combine(_home, "governor.json");
        _settings = _settings.WithFile(_configPath);
        _configHash = HashOf(_configPath);
        _reader = new SettingsReader(() => Volatile.Read(ref _settings), m => _log.Warn("{Message}", m));

        string appName = _reader.GetString("app") ?? Assembly.GetEntryAssembly()?.GetName().Name ?? "app";
        string? tag = _reader.GetString("tag") is { Length: > 0 } t ? t : null;
        Phase("settings");
        string logDir = StartLog(appName);
        Phase("log");
        _info = new AgentInfo(Version, _home, logDir, appName, tag, Environment.ProcessId);

        AppContext.SetData("Governor.ReportDuplicate", (Action<string>)(m => _log.Warn("{Message}", m)));
        foreach (string problem in _settings.Problems)
        {
            _log.Warn("{Message}", problem);
        }

        _status = new StatusHub();
        _status.SetFactsSource(Facts);
        _plugins = new PluginManager(_log, OnPluginStateChanged);
        _rules = new RuleStore(RulesDirectory(), () => _plugins.Kinds(), _log);
        _rules.Prefetch();

        StartPatching();
        Phase("patching");
        _plugins.Discover(Path.Combine(_home, "plugins"));
        Phase("discover");
        _plugins.WarnUnknownNames(_settings, m => _log.Warn("{Message}", m));

        var toStart = new List<PluginRuntime>();
        foreach (var plugin in _plugins.Plugins.Where(p => p.Manifest is not null && p.State == PluginState.Discovered))
        {
            var (enabled, reason) = PluginManager.ResolveEnabled(plugin.Manifest!, _settings, m => _log.Warn("{Message}", m));
            if (!enabled)
            {
                plugin.Transition(PluginState.Disabled, reason);
                continue;
            }

            if (_plugins.Load(plugin))
            {
                toStart.Add(plugin);
            }
        }

        Phase("load");
        WarnReadyToRun(toStart);

        // Rules are read after the enabled plugins declared their kinds and before they start,
        // so every plugin sees its rules in Start.
        _rules.Scan(force: true);
        Phase("rules");
        _plugins.Start(toStart, CreateContext, _reader.GetDuration("plugins:startTimeout", PluginManager.DefaultStartTimeout));
        Phase("start");
        _rules.StartWatching(TimeSpan.FromSeconds(1));
        _rules.Changed += _ => _status.NotifyStateChanged();

        StartStatus();
        _configTimer = new Timer(_ => SafeReloadConfig(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        WatchConfig();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Shutdown();

        Phase("status");
        _summary = BuildSummary(_clock.Elapsed);
        _log.Info("{Summary}", _summary);
        _status.NotifyStateChanged();
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
        _agentLog = AgentLog.Start(logDir, appName, Environment.ProcessId, level, stderr);
        _log = _agentLog.For("agent");
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

        _patching = PatchingHost.TryInitialize(_agentLog!.For("patching"), out _patchingReason);

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
            PluginStatuses(), points, _phases, _rules.Directory, rules.Version, rules.Documents.Count,
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
            lock (_toggleGate)
            {
                _configTimer?.Dispose();
                _configWatcher?.Dispose();
                _rules.Dispose();
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

    private sealed class NullLogger : IGovernorLogger
    {
        public static readonly NullLogger Instance = new();

        public bool IsEnabled(GovernorLogLevel level) => false;

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
        }
    }
}
