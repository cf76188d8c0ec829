namespace Governor.Core.Tests;

/// <summary>Keeps log lines in memory (a hand-written fake of the agent log).</summary>
internal sealed class ListLogger : IGovernorLogger
{
    private readonly List<string> _lines = new();

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.ToList();
            }
        }
    }

    public bool IsEnabled(GovernorLogLevel level) => true;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
        // Good enough for assertions: substitute properties in order.
        string text = messageTemplate;
        foreach (var arg in args)
        {
            int open = text.IndexOf('{', StringComparison.Ordinal);
            int close = open < 0 ? -1 : text.IndexOf('}', open);
            if (close < 0)
            {
                break;
            }

            text = string.Concat(text.AsSpan(0, open), arg?.ToString(), text.AsSpan(close + 1));
        }

        lock (_lines)
        {
            _lines.Add($"{level}: {text}{(exception is null ? string.Empty : " | " + exception.Message)}");
        }
    }
}
