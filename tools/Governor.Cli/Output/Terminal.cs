namespace Governor.Cli.Output;

/// <summary>
/// Where output goes and how it may look: colors only when stdout is a terminal and
/// <c>NO_COLOR</c> is not set (https://no-color.org), tables sized to the terminal width
/// only on a terminal (a script reading a pipe gets every character).
/// </summary>
internal sealed class Terminal
{
    public Terminal(TextWriter output, TextWriter error, bool isTerminal, int? width, bool color)
    {
        Out = output;
        Error = error;
        IsTerminal = isTerminal;
        Width = width;
        Color = color;
    }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    /// <summary>True when stdout is an interactive terminal (in-place refresh, progress).</summary>
    public bool IsTerminal { get; }

    /// <summary>The width tables must fit in; null means unlimited (redirected output).</summary>
    public int? Width { get; }

    public bool Color { get; }

    public static Terminal FromConsole()
    {
        bool tty = !Console.IsOutputRedirected;
        int? width = null;
        if (tty)
        {
            try
            {
                width = Console.WindowWidth > 20 ? Console.WindowWidth : 80;
            }
            catch (IOException)
            {
                width = 80;
            }
        }

        bool noColor = !string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable("NO_COLOR"))
            || string.Equals(System.Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
        return new Terminal(Console.Out, Console.Error, tty, width, tty && !noColor);
    }

    public string Paint(string text, Style style)
    {
        if (!Color || style == Style.None || text.Length == 0)
        {
            return text;
        }

        string code = style switch
        {
            Style.Good => "32",
            Style.Bad => "31",
            Style.Warn => "33",
            Style.Dim => "2",
            Style.Bold => "1",
            Style.Heading => "1;36",
            _ => "0",
        };
        return $"\u001b[{code}m{text}\u001b[0m";
    }

    /// <summary>Writes "governor: error: ..." (and a hint) to stderr, in red on a terminal.</summary>
    public void WriteError(string message, string? hint = null)
    {
        bool colorErr = Color && !Console.IsErrorRedirected;
        Error.WriteLine(colorErr ? $"\u001b[31mgovernor: error:\u001b[0m {message}" : $"governor: error: {message}");
        if (!string.IsNullOrEmpty(hint))
        {
            Error.WriteLine(hint);
        }
    }

    public void WriteWarning(string message)
    {
        bool colorErr = Color && !Console.IsErrorRedirected;
        Error.WriteLine(colorErr ? $"\u001b[33mgovernor: warning:\u001b[0m {message}" : $"governor: warning: {message}");
    }

    /// <summary>The style of a plugin state, shared by every view.</summary>
    public static Style StateStyle(string? state) => state switch
    {
        "Started" => Style.Good,
        "Failed" => Style.Bad,
        "Disabled" or "Stopped" => Style.Dim,
        "Starting" or "Stopping" or "Discovered" => Style.Warn,
        _ => Style.None,
    };
}

internal enum Style
{
    None,
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
    Heading,
}
