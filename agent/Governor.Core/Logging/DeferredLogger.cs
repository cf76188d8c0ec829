namespace Governor.Core.Logging;

/// <summary>
/// The agent's own logger before its log file exists: what the steps before the app's Main
/// report (settings and manifest problems) is kept and written once the log starts on the start
/// thread, so that opening the log (Serilog) stays off the app's startup path.
/// </summary>
internal sealed class DeferredLogger : IGovernorLogger
{
    private readonly object _gate = new();
    private readonly List<(GovernorLogLevel Level, Exception? Exception, string Template, object?[] Args)> _pending = new();
    private volatile IGovernorLogger? _target;

    public bool IsEnabled(GovernorLogLevel level) => _target?.IsEnabled(level) ?? level >= GovernorLogLevel.Information;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
        if (_target is { } target)
        {
            target.Write(level, exception, messageTemplate, args);
            return;
        }

        lock (_gate)
        {
            if (_target is null)
            {
                _pending.Add((level, exception, messageTemplate, args));
                return;
            }
        }

        _target.Write(level, exception, messageTemplate, args);
    }

    /// <summary>Writes what was kept to <paramref name="target"/>, in order, and forwards from now on.</summary>
    public void Attach(IGovernorLogger target)
    {
        lock (_gate)
        {
            foreach (var (level, exception, template, args) in _pending)
            {
                target.Write(level, exception, template, args);
            }

            _pending.Clear();
            _target = target;
        }
    }
}
