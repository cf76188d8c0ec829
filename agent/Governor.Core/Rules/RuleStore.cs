using Governor.Rules;

namespace Governor.Core.Rules;

/// <summary>
/// The rules read from the rules directory. Each file is validated on its own and taken whole
/// or not at all; a bad file never replaces the last good version of that file. Changes are
/// picked up by a file watcher and by polling (ConfigMap updates swap symlinks, which watchers
/// can miss). Readers get immutable snapshots and never lock.
/// </summary>
internal sealed class RuleStore : IRuleSource, IDisposable
{
    private static readonly string[] s_extensions = { ".yaml", ".yml", ".json" };

    private readonly string _directory;
    private readonly IGovernorLogger _log;
    private readonly object _scanGate = new();
    private readonly Dictionary<string, FileState> _files = new(StringComparer.Ordinal);
    private Func<RuleKindRegistry> _kinds;
    private RuleSet _current = RuleSet.Empty;
    private IReadOnlyList<RuleError> _errors = Array.Empty<RuleError>();
    private IReadOnlyList<string> _notes = Array.Empty<string>();
    private FileSystemWatcher? _watcher;
    private Timer? _pollTimer;
    private Timer? _debounceTimer;
    private long _version;
    private bool _disposed;
    private Task<Dictionary<string, RuleValidator.ParsedFile>>? _prefetch;

    public RuleStore(string directory, Func<RuleKindRegistry> kinds, IGovernorLogger log)
    {
        _directory = directory;
        _kinds = kinds;
        _log = log;
    }

    public event Action<RuleSet>? Changed;

    public string Directory => _directory;

    public RuleSet Current => Volatile.Read(ref _current);

    public IReadOnlyList<RuleError> Errors => Volatile.Read(ref _errors);

    /// <summary>Documents kept aside because their plugin is not running, and similar notes.</summary>
    public IReadOnlyList<string> Notes => Volatile.Read(ref _notes);

    /// <summary>
    /// Starts reading and parsing the rule files on a background thread, so that the first
    /// <see cref="Scan"/> (which needs the plugins' kinds to validate) finds them parsed already.
    /// </summary>
    public void Prefetch()
    {
        _prefetch = Task.Run(() =>
        {
            var parsed = new Dictionary<string, RuleValidator.ParsedFile>(StringComparer.Ordinal);
            foreach (string path in EnumerateRuleFiles())
            {
                try
                {
                    parsed[path] = RuleValidator.Parse(path, File.ReadAllBytes(path));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Scan reads it again and reports.
                }
            }

            return parsed;
        });
    }

    /// <summary>Reads the directory now (synchronously). Returns true when the rules changed.</summary>
    public bool Scan(bool force = false)
    {
        lock (_scanGate)
        {
            if (_disposed)
            {
                return false;
            }

            bool changed = force;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var kinds = _kinds();
            var prefetched = TakePrefetch();
            foreach (string path in EnumerateRuleFiles())
            {
                seen.Add(path);
                byte[] bytes;
                try
                {
                    bytes = File.ReadAllBytes(path);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Mid-swap or unreadable now: keep what we had; the next poll tries again.
                    continue;
                }

                // Rule files are small: keeping their bytes is cheaper than hashing (a cryptographic
                // hash would load OpenSSL at startup).
                byte[] hash = bytes;
                if (!force && _files.TryGetValue(path, out var known) && known.Hash.AsSpan().SequenceEqual(hash))
                {
                    continue;
                }

                var parsed = prefetched is not null && prefetched.TryGetValue(path, out var early) && early.Bytes.AsSpan().SequenceEqual(bytes)
                    ? early
                    : RuleValidator.Parse(path, bytes);
                var result = RuleValidator.Validate(parsed, kinds);
                _files.TryGetValue(path, out var previous);
                if (result.Errors.Count == 0)
                {
                    _files[path] = new FileState(hash, result.Documents, Array.Empty<RuleError>(), result.Notes);
                    _log.Info("Rules from {File}: {Count} document(s) accepted", path, result.Documents.Count);
                }
                else
                {
                    _files[path] = new FileState(hash, previous?.Documents ?? Array.Empty<RuleDocument>(), result.Errors, result.Notes);
                    foreach (var error in result.Errors)
                    {
                        _log.Warn("Rule error: {Error}", error.ToString());
                    }

                    _log.Warn("Rules from {File} rejected ({Count} error(s)); {Kept}", path, result.Errors.Count, previous is null || previous.Documents.Count == 0 ? "no earlier version of this file is in force" : $"the last good version ({previous.Documents.Count} document(s)) stays in force");
                }

                changed = true;
            }

            foreach (string gone in _files.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _files.Remove(gone);
                _log.Info("Rules from {File} removed", gone);
                changed = true;
            }

            if (changed)
            {
                Publish();
            }

            return changed;
        }
    }

    /// <summary>The known kinds changed (a plugin started or stopped): validate every file again.</summary>
    public void Revalidate(Func<RuleKindRegistry> kinds)
    {
        _kinds = kinds;
        Scan(force: true);
    }

    /// <summary>Starts the watcher and the poll timer.</summary>
    public void StartWatching(TimeSpan pollInterval)
    {
        try
        {
            if (System.IO.Directory.Exists(_directory))
            {
                _watcher = new FileSystemWatcher(_directory) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime | NotifyFilters.DirectoryName };
                _watcher.Changed += OnFileEvent;
                _watcher.Created += OnFileEvent;
                _watcher.Deleted += OnFileEvent;
                _watcher.Renamed += OnFileEvent;
                _watcher.EnableRaisingEvents = true;
            }
        }
        catch (Exception ex)
        {
            // inotify limits and the like: polling still covers changes.
            _log.Debug("File watcher unavailable for {Directory} ({Message}); polling only", _directory, ex.Message);
            _watcher?.Dispose();
            _watcher = null;
        }

        _debounceTimer = new Timer(_ => SafeScan(), null, Timeout.Infinite, Timeout.Infinite);
        _pollTimer = new Timer(_ => SafeScan(), null, pollInterval, pollInterval);
    }

    public void Dispose()
    {
        lock (_scanGate)
        {
            _disposed = true;
        }

        _watcher?.Dispose();
        _pollTimer?.Dispose();
        _debounceTimer?.Dispose();
    }

    private Dictionary<string, RuleValidator.ParsedFile>? TakePrefetch()
    {
        var task = Interlocked.Exchange(ref _prefetch, null);
        try
        {
            return task?.GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            return null;
        }
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e) => _debounceTimer?.Change(150, Timeout.Infinite);

    private void SafeScan()
    {
        try
        {
            Scan();
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Reading the rules directory {Directory} failed; the current rules stay in force", _directory);
        }
    }

    private IEnumerable<string> EnumerateRuleFiles()
    {
        if (!System.IO.Directory.Exists(_directory))
        {
            return Array.Empty<string>();
        }

        try
        {
            // Names starting with '.' are skipped: a ConfigMap volume keeps its real files in
            // '..data' and timestamped '..2024_..' folders and exposes them through symlinks.
            return System.IO.Directory.EnumerateFiles(_directory)
                .Where(p => !Path.GetFileName(p).StartsWith('.') && s_extensions.Contains(Path.GetExtension(p), StringComparer.OrdinalIgnoreCase))
                .OrderBy(p => p, StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log.Warn("Cannot list the rules directory {Directory}: {Message}", _directory, ex.Message);
            return Array.Empty<string>();
        }
    }

    private void Publish()
    {
        var documents = new List<RuleDocument>();
        var errors = new List<RuleError>();
        var notes = new List<string>();
        var names = new Dictionary<(string Kind, string Name), RuleDocument>();
        foreach (var (path, state) in _files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            errors.AddRange(state.Errors);
            notes.AddRange(state.Notes);
            foreach (var doc in state.Documents)
            {
                if (names.TryGetValue((doc.Kind, doc.Name), out var first))
                {
                    var error = new RuleError(path, doc.Index, doc.Line, "metadata.name", $"a {doc.Kind} named '{doc.Name}' is already defined in {Path.GetFileName(first.File)} (document {first.Index}); this one is ignored. Rename one of them.");
                    errors.Add(error);
                    _log.Warn("Rule error: {Error}", error.ToString());
                    continue;
                }

                names[(doc.Kind, doc.Name)] = doc;
                documents.Add(doc);
            }
        }

        var set = new RuleSet(Interlocked.Increment(ref _version), documents);
        Volatile.Write(ref _errors, errors);
        Volatile.Write(ref _notes, notes);
        Volatile.Write(ref _current, set);
        foreach (var handler in Changed?.GetInvocationList() ?? Array.Empty<Delegate>())
        {
            try
            {
                ((Action<RuleSet>)handler)(set);
            }
            catch (Exception ex)
            {
                _log.Error(ex, "A rule change handler failed; other plugins still got the new rules");
            }
        }
    }

    private sealed record FileState(byte[] Hash, IReadOnlyList<RuleDocument> Documents, IReadOnlyList<RuleError> Errors, IReadOnlyList<string> Notes);
}
