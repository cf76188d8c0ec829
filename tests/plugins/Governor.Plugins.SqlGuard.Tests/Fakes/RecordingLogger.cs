namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>Keeps every log call (level, template, arguments) so tests can count and read them.</summary>
internal sealed class RecordingLogger : IGovernorLogger
{
    private readonly List<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToArray();
            }
        }
    }

    public bool IsEnabled(GovernorLogLevel level) => true;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
        lock (_entries)
        {
            _entries.Add(new Entry(level, messageTemplate, args, exception));
        }
    }

    /// <summary>Entries whose template contains <paramref name="fragment"/>.</summary>
    public IReadOnlyList<Entry> With(string fragment) => Entries.Where(e => e.Template.Contains(fragment, StringComparison.Ordinal)).ToArray();

    public sealed record Entry(GovernorLogLevel Level, string Template, object?[] Args, Exception? Exception)
    {
        /// <summary>The template with its placeholders replaced by the arguments, in order.</summary>
        public string Text
        {
            get
            {
                var text = new System.Text.StringBuilder();
                int arg = 0;
                for (int i = 0; i < Template.Length; i++)
                {
                    int close = Template[i] == '{' ? Template.IndexOf('}', i) : -1;
                    if (close > i && arg < Args.Length)
                    {
                        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{Args[arg++]}");
                        i = close;
                    }
                    else
                    {
                        text.Append(Template[i]);
                    }
                }

                return text.ToString();
            }
        }
    }
}
