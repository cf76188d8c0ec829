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

    public StatusFileWriter(StatusHub hub, string directory, int processId, IGovernorLogger log, TimeSpan interval)
    {
        _hub = hub;
        _log = log;
        Path = System.IO.Path.Combine(directory, $"governor-status-{processId}.json");
        _timer = new Timer(_ => Write(), null, interval, interval);
        hub.StateChanged += Write;
    }

    public string Path { get; }

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

                string tmp = Path + ".tmp";
                File.WriteAllText(tmp, json);
                File.Move(tmp, Path, overwrite: true);
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

        _hub.StateChanged -= Write;
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
