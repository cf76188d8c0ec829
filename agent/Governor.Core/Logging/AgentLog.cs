using System.Collections.Concurrent;
using System.Globalization;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace Governor.Core.Logging;

/// <summary>
/// The agent's own log: Serilog, loaded in the agent's AssemblyLoadContext (an app that uses
/// another Serilog version keeps its own), writing a rolling file in the log directory and,
/// when asked, stderr. The app's stdout and the app's logging are never touched.
/// Serilog is set up on a background thread so that it costs the app's startup nothing;
/// events written before it is ready are kept in order and written once it is.
/// </summary>
internal sealed class AgentLog : IDisposable
{
    private const long SizeLimit = 10 * 1024 * 1024;
    private const int RetainedFiles = 5;
    private const string Template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {Component}: {Message:lj}{NewLine}{Exception}";

    private readonly object _gate = new();
    private readonly Queue<LogEvent> _early = new();
    private readonly Task _started;
    private volatile Logger? _logger;
    private volatile int _level;
    private LoggingLevelSwitch? _levelSwitch;

    private readonly TaskCompletionSource _openNow = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private AgentLog(string directory, string appName, int processId, GovernorLogLevel level, bool stderr, TimeSpan openDelay)
    {
        _level = (int)level;
        Directory = directory;
        FilePath = FileTemplate(directory, appName, processId);
        _started = openDelay <= TimeSpan.Zero
            ? Task.Run(() => Open(appName, processId, stderr))
            : Task.Run(async () =>
            {
                // Opening Serilog's rolling file compiles a regular expression (Reflection.Emit and
                // the JIT): done after the app's startup, unless the agent stops first.
                await Task.WhenAny(_openNow.Task, Task.Delay(openDelay)).ConfigureAwait(false);
                Open(appName, processId, stderr);
            });
    }

    /// <summary>The log directory actually used (the temp folder when the configured one is not writable).</summary>
    public string Directory { get; private set; }

    /// <summary>The rolling file's name template (Serilog adds the date before the extension).</summary>
    public string FilePath { get; private set; }

    /// <param name="openDelay">How long the file waits before it is opened (events meanwhile are kept in order).</param>
    public static AgentLog Start(string directory, string appName, int processId, GovernorLogLevel level, bool stderr, TimeSpan openDelay = default) =>
        new(directory, appName, processId, level, stderr, openDelay);

    public IGovernorLogger For(string component) => new ComponentLogger(this, component);

    public void SetLevel(GovernorLogLevel level)
    {
        _level = (int)level;
        if (_levelSwitch is { } s)
        {
            s.MinimumLevel = ToSerilog(level);
        }
    }

    /// <summary>Waits (bounded) until the file is open and every early event is written.</summary>
    public bool WaitUntilStarted(TimeSpan timeout)
    {
        try
        {
            return _started.Wait(timeout);
        }
        catch (AggregateException)
        {
            return true;
        }
    }

    /// <summary>Opens the file now if it is still waiting for its delay.</summary>
    public void OpenNow() => _openNow.TrySetResult();

    public void Dispose()
    {
        OpenNow();
        WaitUntilStarted(TimeSpan.FromSeconds(2));
        _logger?.Dispose();
    }

    public static LogEventLevel ToSerilog(GovernorLogLevel level) => (LogEventLevel)(int)level;

    public static bool TryParseLevel(string text, out GovernorLogLevel level)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "verbose" or "trace":
                level = GovernorLogLevel.Verbose;
                return true;
            case "debug":
                level = GovernorLogLevel.Debug;
                return true;
            case "information" or "info":
                level = GovernorLogLevel.Information;
                return true;
            case "warning" or "warn":
                level = GovernorLogLevel.Warning;
                return true;
            case "error":
                level = GovernorLogLevel.Error;
                return true;
            case "fatal":
                level = GovernorLogLevel.Fatal;
                return true;
            default:
                level = GovernorLogLevel.Information;
                return false;
        }
    }

    private static string FileTemplate(string directory, string appName, int processId)
    {
        string safeApp = string.Concat(appName.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'));
        return Path.Combine(directory, $"governor-{safeApp}-{processId}-.log");
    }

    private void Open(string appName, int processId, bool stderr)
    {
        Logger? logger = null;
        string? fallbackReason = null;
        string configured = Directory;
        try
        {
            logger = Create(Directory, FilePath, stderr);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // An unwritable log directory must not cost the app its governance: fall back to temp.
            fallbackReason = ex.Message;
            Directory = Path.Combine(Path.GetTempPath(), "governor");
            FilePath = FileTemplate(Directory, appName, processId);
            try
            {
                logger = Create(Directory, FilePath, stderr);
            }
            catch (Exception)
            {
                // Nowhere to log: governance goes on silently.
            }
        }
        catch (Exception)
        {
            // Same: a broken logger never stops the agent.
        }

        lock (_gate)
        {
            if (logger is not null)
            {
                if (fallbackReason is not null)
                {
                    logger.ForContext("Component", "agent").Warning("Log directory {Directory} is not writable ({Message}); logging to {Fallback}. Set GOVERNOR_LOG_DIR to a writable folder.", configured, fallbackReason, Directory);
                }

                while (_early.TryDequeue(out var e))
                {
                    logger.Write(e);
                }
            }

            _early.Clear();
            _logger = logger;
        }
    }

    private Logger Create(string directory, string path, bool stderr)
    {
        System.IO.Directory.CreateDirectory(directory);
        _levelSwitch = new LoggingLevelSwitch(ToSerilog((GovernorLogLevel)_level));
        var file = new RollingFileSink(directory, Path.GetFileName(path)[..^".log".Length], new MessageTemplateTextFormatter(Template, CultureInfo.InvariantCulture), SizeLimit, RetainedFiles);

        // Opening the file now (not at the first event) surfaces an unwritable directory here.
        file.Open(DateTimeOffset.Now);
        var config = new LoggerConfiguration()
            .MinimumLevel.ControlledBy(_levelSwitch)
            .Enrich.WithProperty("Component", "agent")
            .WriteTo.Sink(file);
        if (stderr)
        {
            config = config.WriteTo.Sink(new StderrSink());
        }

        return config.CreateLogger();
    }

    private void Write(string component, GovernorLogLevel level, Exception? exception, string template, object?[] args)
    {
        if ((int)level < _level)
        {
            return;
        }

        var logger = _logger;
        if (logger is null)
        {
            lock (_gate)
            {
                logger = _logger;
                if (logger is null)
                {
                    if (!_started.IsCompleted && _early.Count < 10_000)
                    {
                        _early.Enqueue(Capture(component, level, exception, template, args));
                    }

                    return;
                }
            }
        }

        logger.ForContext("Component", component).Write(ToSerilog(level), exception, template, args);
    }

    // Parsing the template with Serilog's own machinery keeps early events identical to later ones.
    private static LogEvent Capture(string component, GovernorLogLevel level, Exception? exception, string template, object?[] args)
    {
        var parser = new Serilog.Parsing.MessageTemplateParser();
        var parsed = parser.Parse(template);
        var properties = new List<LogEventProperty> { new("Component", new ScalarValue(component)) };
        int i = 0;
        foreach (var token in parsed.Tokens)
        {
            if (token is Serilog.Parsing.PropertyToken p && i < args.Length)
            {
                properties.Add(new LogEventProperty(p.PropertyName, new ScalarValue(args[i++])));
            }
        }

        return new LogEvent(DateTimeOffset.Now, ToSerilog(level), exception, parsed, properties);
    }

    private sealed class ComponentLogger : IGovernorLogger
    {
        private readonly AgentLog _owner;
        private readonly string _component;

        public ComponentLogger(AgentLog owner, string component)
        {
            _owner = owner;
            _component = component;
        }

        public bool IsEnabled(GovernorLogLevel level) => (int)level >= _owner._level;

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
            try
            {
                _owner.Write(_component, level, exception, messageTemplate, args);
            }
            catch (Exception)
            {
                // A logging failure (disk full, ...) must never reach the caller.
            }
        }
    }

    private sealed class StderrSink : ILogEventSink
    {
        private readonly MessageTemplateTextFormatter _formatter = new("governor " + Template, CultureInfo.InvariantCulture);

        public void Emit(LogEvent logEvent)
        {
            var writer = new StringWriter();
            _formatter.Format(logEvent, writer);
            Console.Error.Write(writer.ToString());
        }
    }
}
