namespace Governor.Cli.Output;

/// <summary>
/// A plain-text table: a header row and left-aligned columns separated by two spaces. On a
/// terminal the widest columns are shortened (with '…') until the table fits; redirected
/// output is never cut, so scripts and tests see whole values. Styles apply after padding, so
/// escape codes never disturb the alignment.
/// </summary>
internal sealed class Table
{
    private const string Gap = "  ";
    private readonly string[] _headers;
    private readonly List<(string Text, Style Style)[]> _rows = new();

    public Table(params string[] headers) => _headers = headers;

    public int Count => _rows.Count;

    public void Add(params string?[] cells) => _rows.Add(cells.Select(c => (c ?? string.Empty, Style.None)).ToArray());

    public void AddStyled(params (string? Text, Style Style)[] cells) => _rows.Add(cells.Select(c => (c.Text ?? string.Empty, c.Style)).ToArray());

    public void Write(Terminal terminal, string indent = "")
    {
        int columns = _headers.Length;
        var widths = new int[columns];
        for (int c = 0; c < columns; c++)
        {
            widths[c] = _headers[c].Length;
            foreach (var row in _rows)
            {
                widths[c] = Math.Max(widths[c], Flatten(Cell(row, c).Text).Length);
            }
        }

        if (terminal.Width is int max)
        {
            Fit(widths, max - indent.Length);
        }

        var header = new System.Text.StringBuilder(indent);
        for (int c = 0; c < columns; c++)
        {
            string text = Fit(_headers[c], widths[c]);
            header.Append(terminal.Paint(c == columns - 1 ? text : text.PadRight(widths[c]), Style.Bold));
            if (c < columns - 1)
            {
                header.Append(Gap);
            }
        }

        terminal.Out.WriteLine(header.ToString().TrimEnd());
        foreach (var row in _rows)
        {
            var line = new System.Text.StringBuilder(indent);
            for (int c = 0; c < columns; c++)
            {
                var (text, style) = Cell(row, c);
                string fitted = Fit(Flatten(text), widths[c]);
                line.Append(terminal.Paint(fitted, style));
                if (c < columns - 1)
                {
                    line.Append(' ', widths[c] - fitted.Length).Append(Gap);
                }
            }

            terminal.Out.WriteLine(line.ToString().TrimEnd());
        }
    }

    private static (string Text, Style Style) Cell((string Text, Style Style)[] row, int column) => column < row.Length ? row[column] : (string.Empty, Style.None);

    // A cell is one line: reasons and details may carry newlines.
    private static string Flatten(string text) => text.Contains('\n', StringComparison.Ordinal) ? text.ReplaceLineEndings(" ") : text;

    private static string Fit(string text, int width) => text.Length <= width ? text : width <= 1 ? text[..width] : string.Concat(text.AsSpan(0, width - 1), "…");

    // Shrinks the widest column one character at a time until the row fits (never below 6).
    private static void Fit(int[] widths, int max)
    {
        int total = widths.Sum() + (Gap.Length * (widths.Length - 1));
        while (total > max)
        {
            int widest = Array.IndexOf(widths, widths.Max());
            if (widths[widest] <= 6)
            {
                return;
            }

            widths[widest]--;
            total--;
        }
    }
}
