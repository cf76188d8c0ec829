namespace Governor.Plugins.Outbound.Testing;

/// <summary>A logger that keeps what it was given (pipeline unit tests). Linked into both test projects.</summary>
internal sealed class ListLogger : IGovernorLogger
{
    public List<string> Lines { get; } = new();

    public bool IsEnabled(GovernorLogLevel level) => true;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
        lock (Lines)
        {
            Lines.Add($"{level}: {messageTemplate} {exception?.Message}");
        }
    }
}
