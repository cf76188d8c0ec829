using System.Diagnostics;
using System.Reflection;
using Governor.Core.Settings;
using Governor.Core.Rules;
using Governor.Rules;

namespace Governor.Core.Plugins;

/// <summary>
/// Finds plugins (<c>plugins/&lt;name&gt;/plugin.json</c>), decides which are enabled, loads each
/// into its own AssemblyLoadContext, starts them by order group (same order: in parallel;
/// groups: in sequence) with a start timeout each, and stops them in reverse order. A plugin
/// that throws or hangs is marked Failed; the other plugins and the app go on.
/// </summary>
internal sealed class PluginManager
{
    public static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(3);

    private readonly IGovernorLogger _log;
    private readonly Action<PluginRuntime> _onStateChanged;
    private readonly List<PluginRuntime> _plugins = new();

    public PluginManager(IGovernorLogger log, Action<PluginRuntime> onStateChanged)
    {
        _log = log;
        _onStateChanged = onStateChanged;
    }

    public IReadOnlyList<PluginRuntime> Plugins => _plugins;

    public PluginRuntime? Find(string name) => _plugins.FirstOrDefault(p => p.Name == name);

    public void Discover(string pluginsDirectory)
    {
        if (!Directory.Exists(pluginsDirectory))
        {
            _log.Warn("No plugins folder at {Directory}; the agent runs with no plugin", pluginsDirectory);
            return;
        }

        foreach (string dir in Directory.EnumerateDirectories(pluginsDirectory).OrderBy(d => d, StringComparer.Ordinal))
        {
            string manifestPath = Path.Combine(dir, PluginManifest.FileName);
            if (!File.Exists(manifestPath))
            {
                continue;
            }

            var manifest = PluginManifest.TryRead(manifestPath, out string? error);
            var runtime = new PluginRuntime(dir, manifest, error);
            if (manifest is not null && _plugins.Any(p => p.Name == manifest.Name))
            {
                runtime.Transition(PluginState.Failed, $"another plugin folder already uses the name '{manifest.Name}'");
            }

            if (runtime.State == PluginState.Failed)
            {
                _log.Error(null, "Plugin in {Directory} cannot be used: {Reason}", dir, runtime.Reason);
            }

            _plugins.Add(runtime);
        }
    }

    /// <summary>
    /// Whether a plugin is enabled and why. Sources, highest precedence first: command line,
    /// environment, governor.json; within one source an explicit <c>plugins:&lt;name&gt;:enabled</c>
    /// beats the <c>plugins:disabled</c> / <c>plugins:enabled</c> lists. Then the manifest default.
    /// </summary>
    public static (bool Enabled, string Reason) ResolveEnabled(PluginManifest manifest, SettingsStore settings, Action<string> warn)
    {
        string name = manifest.Name;
        foreach (var layer in new[] { settings.Arguments, settings.Environment, settings.File })
        {
            var explicitSetting = Last(layer, $"plugins:{name}:enabled");
            if (explicitSetting is not null)
            {
                if (SettingsReader.TryParseBool(explicitSetting.Value, out bool value))
                {
                    return (value, $"{(value ? "enabled" : "disabled")} by {explicitSetting.Source}");
                }

                warn($"Setting governor:plugins:{name}:enabled = '{explicitSetting.Value}' (from {explicitSetting.Source}) is not valid: use true or false. It is ignored.");
            }

            var disabled = Last(layer, "plugins:disabled");
            if (disabled is not null && SettingsReader.SplitList(disabled.Value).Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                return (false, $"disabled by {disabled.Source}");
            }

            var enabled = Last(layer, "plugins:enabled");
            if (enabled is not null && SettingsReader.SplitList(enabled.Value).Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                return (true, $"enabled by {enabled.Source}");
            }
        }

        return (manifest.EnabledByDefault, manifest.EnabledByDefault ? "enabled by default" : "disabled by default (manifest)");
    }

    /// <summary>Warns about plugin names in settings that match no plugin (typos such as "throtle").</summary>
    public void WarnUnknownNames(SettingsStore settings, Action<string> warn)
    {
        var known = _plugins.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        string knownText = known.Count == 0 ? "(none installed)" : string.Join(", ", known.OrderBy(n => n, StringComparer.Ordinal));
        var reserved = new HashSet<string>(StringComparer.Ordinal) { "disabled", "enabled", "starttimeout" };
        foreach (var s in settings.All())
        {
            string[] parts = s.Key.Split(':');
            if (parts.Length < 2 || SettingsStore.Canonical(parts[0]) != "plugins")
            {
                continue;
            }

            string second = SettingsStore.Canonical(parts[1]);
            if (parts.Length == 2 && (second == "disabled" || second == "enabled"))
            {
                foreach (string name in SettingsReader.SplitList(s.Value))
                {
                    if (!known.Contains(name))
                    {
                        warn($"Unknown plugin '{name}' in {s.Source}; known plugins: {knownText}.");
                    }
                }
            }
            else if (parts.Length >= 3 && !reserved.Contains(second) && !known.Any(k => SettingsStore.Canonical(k) == second))
            {
                warn($"Setting governor:{s.Key} (from {s.Source}) names unknown plugin '{parts[1]}'; known plugins: {knownText}.");
            }
        }
    }

    /// <summary>Loads the plugin's assembly into its own context and creates its entry type (no Start).</summary>
    public bool Load(PluginRuntime plugin)
    {
        if (plugin.Instance is not null)
        {
            return true;
        }

        var manifest = plugin.Manifest!;
        try
        {
            string assemblyPath = Path.Combine(plugin.Directory, manifest.Assembly);
            if (!File.Exists(assemblyPath))
            {
                throw new FileNotFoundException($"the manifest names assembly '{manifest.Assembly}', which is not in {plugin.Directory}");
            }

            plugin.LoadContext ??= new PluginLoadContext(plugin.Name, plugin.Directory);
            Assembly assembly = plugin.LoadContext.LoadFromAssemblyPath(plugin.LoadContext.Resolve(manifest.Assembly) ?? assemblyPath);
            Type type = assembly.GetType(manifest.EntryType, throwOnError: false)
                ?? throw new TypeLoadException($"entry type '{manifest.EntryType}' is not in {manifest.Assembly}");
            if (!typeof(IGovernorPlugin).IsAssignableFrom(type))
            {
                throw new InvalidCastException($"entry type '{manifest.EntryType}' does not implement {nameof(IGovernorPlugin)} (is Governor.Abstractions shipped in the plugin folder? It must not be)");
            }

            var instance = (IGovernorPlugin)Activator.CreateInstance(type)!;
            var kinds = instance.RuleKinds;
            foreach (var kind in kinds)
            {
                kind.Owner = plugin.Name;
            }

            plugin.Instance = instance;
            plugin.RuleKinds = kinds;
            return true;
        }
        catch (Exception ex)
        {
            var inner = ex is TargetInvocationException { InnerException: { } ie } ? ie : ex;
            SetState(plugin, PluginState.Failed, $"cannot load: {inner.Message}");
            _log.Error(inner, "Plugin {Plugin} cannot be loaded", plugin.Name);
            return false;
        }
    }

    /// <summary>Starts the given plugins: order groups in sequence, each group in parallel.</summary>
    public void Start(IReadOnlyList<PluginRuntime> plugins, Func<PluginRuntime, PluginContext> createContext, TimeSpan defaultTimeout)
    {
        foreach (var group in plugins.GroupBy(p => p.Order).OrderBy(g => g.Key))
        {
            var waits = new List<(PluginRuntime Plugin, ManualResetEventSlim Done, Stopwatch Clock, TimeSpan Timeout)>();
            foreach (var plugin in group)
            {
                if (!plugin.Transition(PluginState.Starting, null))
                {
                    continue;
                }

                _onStateChanged(plugin);
                var context = createContext(plugin);
                plugin.Context = context;
                var done = new ManualResetEventSlim(false);
                var clock = Stopwatch.StartNew();
                var timeout = plugin.Manifest?.StartTimeout ?? defaultTimeout;
                var thread = new Thread(() => RunStart(plugin, context, clock, done, timeout))
                {
                    IsBackground = true,
                    Name = $"Governor start {plugin.Name}",
                };
                thread.Start();
                waits.Add((plugin, done, clock, timeout));
            }

            foreach (var (plugin, done, clock, timeout) in waits)
            {
                var remaining = timeout - clock.Elapsed;
                if (remaining < TimeSpan.Zero || !done.Wait(remaining))
                {
                    if (plugin.Transition(PluginState.Failed, $"did not start within {timeout.TotalSeconds:0.###} s (start timeout); it is left aside", PluginState.Starting))
                    {
                        _log.Error(null, "Plugin {Plugin} did not start within {Timeout} s; the app goes on without it", plugin.Name, timeout.TotalSeconds);
                        _onStateChanged(plugin);
                    }
                }
            }
        }
    }

    private void RunStart(PluginRuntime plugin, PluginContext context, Stopwatch clock, ManualResetEventSlim done, TimeSpan timeout)
    {
        try
        {
            plugin.Instance!.Start(context);
            plugin.StartMilliseconds = clock.Elapsed.TotalMilliseconds;
            if (plugin.Transition(PluginState.Started, null, PluginState.Starting))
            {
                _log.Debug("Plugin {Plugin} started in {Ms:0.0} ms ({Methods} methods JIT-compiled in {JitMs:0.0} ms)", plugin.Name, plugin.StartMilliseconds, System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true), System.Runtime.JitInfo.GetCompilationTime(currentThread: true).TotalMilliseconds);
                _onStateChanged(plugin);
            }
            else
            {
                // It finished after its timeout: it was already declared Failed, so undo its work.
                _log.Warn("Plugin {Plugin} finished starting after its {Timeout} s timeout; stopping it again", plugin.Name, timeout.TotalSeconds);
                SafeStop(plugin, DefaultStopTimeout);
            }
        }
        catch (Exception ex)
        {
            var inner = ex is TargetInvocationException { InnerException: { } ie } ? ie : ex;
            if (plugin.Transition(PluginState.Failed, $"start threw {inner.GetType().Name}: {inner.Message}", PluginState.Starting))
            {
                _log.Error(inner, "Plugin {Plugin} failed to start; the app goes on without it", plugin.Name);
                _onStateChanged(plugin);
            }

            // Undo what it may have registered before it threw.
            context.SignalStopping();
            context.Dispose();
        }
        finally
        {
            done.Set();
        }
    }

    /// <summary>Stops one started plugin, bounded by <paramref name="timeout"/>.</summary>
    public void Stop(PluginRuntime plugin, TimeSpan timeout, PluginState final = PluginState.Stopped, string? reason = null)
    {
        if (!plugin.Transition(PluginState.Stopping, null, PluginState.Started))
        {
            return;
        }

        _onStateChanged(plugin);
        bool ok = SafeStop(plugin, timeout);
        plugin.Transition(ok ? final : PluginState.Failed, ok ? reason : $"did not stop within {timeout.TotalSeconds:0.###} s");
        _onStateChanged(plugin);
    }

    /// <summary>Stops every started plugin in reverse order groups, each group in parallel, within <paramref name="budget"/> in all.</summary>
    public void StopAll(TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        foreach (var group in _plugins.Where(p => p.State == PluginState.Started).GroupBy(p => p.Order).OrderByDescending(g => g.Key))
        {
            var remaining = budget - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                _log.Warn("Stopping plugins ran out of time ({Budget} s); the rest are left as they are", budget.TotalSeconds);
                return;
            }

            var per = remaining < DefaultStopTimeout ? remaining : DefaultStopTimeout;
            var tasks = group.Select(p => Task.Run(() => Stop(p, per))).ToArray();
            Task.WaitAll(tasks, remaining);
        }
    }

    private bool SafeStop(PluginRuntime plugin, TimeSpan timeout)
    {
        var context = plugin.Context;
        context?.SignalStopping();
        var task = Task.Run(() => plugin.Instance?.Stop());
        bool finished;
        try
        {
            finished = task.Wait(timeout);
        }
        catch (AggregateException ex)
        {
            _log.Error(ex.InnerException, "Plugin {Plugin} threw while stopping", plugin.Name);
            finished = true;
            context?.Dispose();
            plugin.Context = null;
            plugin.Transition(PluginState.Stopping, $"stop threw {ex.InnerException?.GetType().Name}: {ex.InnerException?.Message}");
            return true;
        }

        if (!finished)
        {
            _log.Error(null, "Plugin {Plugin} did not stop within {Timeout} s", plugin.Name, timeout.TotalSeconds);
        }

        context?.Dispose();
        plugin.Context = null;
        return finished;
    }

    public RuleKindRegistry Kinds()
    {
        var active = CoreRuleKindsWith(_plugins.Where(p => p.State is PluginState.Started or PluginState.Starting or PluginState.Discovered && p.Instance is not null).SelectMany(p => p.RuleKinds));
        var inactive = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in _plugins.Where(p => p.Manifest is not null && !(p.State is PluginState.Started or PluginState.Starting or PluginState.Discovered && p.Instance is not null)))
        {
            foreach (string kind in p.Manifest!.RuleKinds)
            {
                inactive.TryAdd(kind, p.Name);
            }
        }

        return new RuleKindRegistry(active, inactive);
    }

    private static IEnumerable<RuleKind> CoreRuleKindsWith(IEnumerable<RuleKind> pluginKinds) => Rules.CoreRuleKinds.All.Concat(pluginKinds);

    private void SetState(PluginRuntime plugin, PluginState state, string? reason)
    {
        plugin.Transition(state, reason);
        _onStateChanged(plugin);
    }

    private static Setting? Last(IReadOnlyList<Setting> layer, string key)
    {
        string canonical = SettingsStore.Canonical(key);
        for (int i = layer.Count - 1; i >= 0; i--)
        {
            if (SettingsStore.Canonical(layer[i].Key) == canonical)
            {
                return layer[i];
            }
        }

        return null;
    }
}
