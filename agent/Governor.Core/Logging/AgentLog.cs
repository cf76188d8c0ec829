using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace Governor.Core.Logging;

/// <summary>
/// The agent's own log: Serilog, loaded in the agent's AssemblyLoadContext (an app that uses
/// another Serilog version keeps its own), writing a rolling file in the log directory and,
/// when asked, stderr. The app's stdout and the app's logging are never touched.
/// </summary>
internal sealed class AgentLog : IDisposable
{
    private const string Template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {Component}: {Message:lj}{NewLine}{Exception}";

    private readonly Logger _logger;

    private AgentLog(Logger logger, LoggingLevelSwitch levelSwitch, string filePath)
    {
        _logger = logger;
        LevelSwitch = levelSwitch;
        FilePath = filePath;
    }

    public LoggingLevelSwitch LevelSwitch { get; }

    public string FilePath { get; }

    public static AgentLog Create(string directory, string appName, int processId, GovernorLogLevel level, bool stderr)
    {
        Directory.CreateDirectory(directory);
        string safeApp = string.Concat(appName.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_'));
        string path = Path.Combine(directory, $"governor-{safeApp}-{processId}-.log");
        var levelSwitch = new LoggingLevelSwitch(ToSerilog(level));
        var config = new LoggerConfiguration()
            .MinimumLevel.ControlledBy(levelSwitch)
            .Enrich.WithProperty("Component", "agent")
            .WriteTo.File(path, outputTemplate: Template, rollingInterval: RollingInterval.Day, fileSizeLimitBytes: 10 * 1024 * 1024, rollOnFileSizeLimit: true, retainedFileCountLimit: 5, shared: false);
        if (stderr)
        {
            config = config.WriteTo.Sink(new StderrSink());
        }

        return new AgentLog(config.CreateLogger(), levelSwitch, path);
    }

    public IGovernorLogger For(string component) => new ComponentLogger(_logger.ForContext("Component", component));

    public void SetLevel(GovernorLogLevel level) => LevelSwitch.MinimumLevel = ToSerilog(level);

    public void Dispose() => _logger.Dispose();

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

    private sealed class ComponentLogger : IGovernorLogger
    {
        private readonly ILogger _logger;

        public ComponentLogger(ILogger logger) => _logger = logger;

        public bool IsEnabled(GovernorLogLevel level) => _logger.IsEnabled(ToSerilog(level));

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
            try
            {
                _logger.Write(ToSerilog(level), exception, messageTemplate, args);
            }
            catch (Exception)
            {
                // A logging failure (disk full, ...) must never reach the caller.
            }
        }
    }

    private sealed class StderrSink : ILogEventSink
    {
        private readonly MessageTemplateTextFormatter _formatter = new("governor " + Template, null);

        public void Emit(LogEvent logEvent)
        {
            var writer = new StringWriter();
            _formatter.Format(logEvent, writer);
            Console.Error.Write(writer.ToString());
        }
    }
}
