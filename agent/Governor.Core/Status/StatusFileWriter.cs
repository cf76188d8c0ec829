namespace Governor.Core.Status;

/// <summary>
/// Writes <c>governor-status-&lt;pid&gt;.json</c> in the log directory: at once on every state
/// change and every few seconds when counters moved. Written to a temporary file and renamed,
/// so a reader never sees half a file. Removed at process exit.
/// </summary>
internal sealed class StatusFileWriter : IDisposable
{
    private readonly StatusHub _hub;
    private readonly IGovernorLogger _log;
    private readonly Timer _timer;
    private readonly object _gate = new();
    private string? _last;
    private bool _failedOnce;
    private bool _disposed;

    private readonly Func<string> _directory;
    private readonly int _processId;
    private readonly TimeSpan _interval;

    /// <param name="directory">Asked at each write: the log directory can fall back to the temp folder after startup.</param>
    public StatusFileWriter(StatusHub hub, Func<string> directory, int processId, IGovernorLogger log, TimeSpan interval)
    {
        _hub = hub;
        _log = log;
        _directory = directory;
        _processId = processId;
        _interval = interval;
        _timer = new Timer(_ => Write(), null, interval, interval);
        hub.StateChanged += WriteSoon;
    }

    public string Path => System.IO.Path.Combine(_directory(), $"governor-status-{_processId}.json");

    // State changes are written at once, but on the timer's thread: never on the caller's
    // (a plugin transition, the startup path).
    private void WriteSoon()
    {
        try
        {
            _timer.Change(TimeSpan.Zero, _interval);
        }
        catch (ObjectDisposedException)
        {
            // Shutting down.
        }
    }

    public void Write()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                string json = _hub.RenderJson((plugin, ex) => _log.Warn(ex, "Status collection of plugin {Plugin} failed", plugin));
                // Skip rewrites when only the timestamp would change.
                string comparable = StripUpdatedAt(json);
                if (comparable == _last)
                {
                    return;
                }

                string path = Path;
                string tmp = path + ".tmp";
                File.WriteAllText(tmp, json);
                File.Move(tmp, path, overwrite: true);
                _last = comparable;
            }
            catch (Exception ex)
            {
                if (!_failedOnce)
                {
                    _failedOnce = true;
                    _log.Warn(ex, "Cannot write the status file {Path}; status stays available over EventPipe", Path);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        _hub.StateChanged -= WriteSoon;
        _timer.Dispose();
        try
        {
            File.Delete(Path);
        }
        catch (Exception)
        {
            // A stale status file names a dead pid; readers check that.
        }
    }

    private static string StripUpdatedAt(string json)
    {
        int i = json.IndexOf("\"updatedAt\"", StringComparison.Ordinal);
        if (i < 0)
        {
            return json;
        }

        int end = json.IndexOf('\n', i);
        return end < 0 ? json[..i] : string.Concat(json.AsSpan(0, i), json.AsSpan(end));
    }
}
