using System.Globalization;
using System.Net;
using System.Text;

namespace Governor.Demo;

internal enum ChartKind
{
    /// <summary>Lines through the points of each series.</summary>
    Lines,

    /// <summary>Grouped bars per x value (x values are categories or whole seconds).</summary>
    Bars,

    /// <summary>One dot per point (e.g. one per request).</summary>
    Dots,
}

internal sealed record Series(string Name, string Color, IReadOnlyList<(double X, double Y)> Points);

/// <summary>A vertical line with a label (e.g. "SIGTERM").</summary>
internal sealed record Marker(double X, string Label);

/// <summary>A plot for the HTML report, rendered as inline SVG (no script, no network).</summary>
internal sealed record Chart(string Id, string Title, string XLabel, string YLabel, ChartKind Kind, IReadOnlyList<Series> Series, IReadOnlyList<Marker>? Markers = null, bool LogY = false, IReadOnlyList<string>? Categories = null)
{
    private const int Width = 760;
    private const int Height = 300;
    private const int Left = 64;
    private const int Right = 16;
    private const int Top = 34;
    private const int Bottom = 46;

    public string ToSvg()
    {
        var svg = new StringBuilder();
        svg.Append(Fmt($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{Id}\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"{Esc(Title)}\">"));
        svg.Append(Fmt($"<rect x=\"0\" y=\"0\" width=\"{Width}\" height=\"{Height}\" fill=\"#ffffff\"/>"));
        svg.Append(Fmt($"<text x=\"{Left}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{Esc(Title)}</text>"));
        var points = Series.SelectMany(s => s.Points).ToList();
        if (points.Count == 0)
        {
            svg.Append(Fmt($"<text x=\"{Width / 2}\" y=\"{Height / 2}\" text-anchor=\"middle\" fill=\"#888\">no data</text></svg>"));
            return svg.ToString();
        }

        double xMin = Kind == ChartKind.Bars ? points.Min(p => p.X) - 0.5 : points.Min(p => p.X);
        double xMax = Kind == ChartKind.Bars ? points.Max(p => p.X) + 0.5 : points.Max(p => p.X);
        foreach (var m in Markers ?? Array.Empty<Marker>())
        {
            xMin = Math.Min(xMin, m.X);
            xMax = Math.Max(xMax, m.X);
        }

        if (xMax <= xMin)
        {
            xMax = xMin + 1;
        }

        double yMax = Math.Max(points.Max(p => p.Y), LogY ? 1 : 0.001) * 1.08;
        double yMin = LogY ? Math.Max(0.1, Math.Pow(10, Math.Floor(Math.Log10(Math.Max(0.1, points.Where(p => p.Y > 0).Select(p => p.Y).DefaultIfEmpty(1).Min()))))) : 0;
        double plotW = Width - Left - Right;
        double plotH = Height - Top - Bottom;
        double X(double x) => Left + ((x - xMin) / (xMax - xMin) * plotW);
        double Y(double y)
        {
            double f = LogY ? (Math.Log10(Math.Max(y, yMin)) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)) : y / yMax;
            return Top + plotH - (Math.Clamp(f, 0, 1) * plotH);
        }

        // Grid and y ticks.
        foreach (double tick in Ticks(yMin, yMax, LogY))
        {
            svg.Append(Fmt($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Y(tick):0.0}\" y2=\"{Y(tick):0.0}\" stroke=\"#e5e5e5\"/>"));
            svg.Append(Fmt($"<text x=\"{Left - 6}\" y=\"{Y(tick) + 4:0.0}\" font-size=\"11\" text-anchor=\"end\">{Num(tick)}</text>"));
        }

        svg.Append(Fmt($"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Top + plotH}\" stroke=\"#444\"/><line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Top + plotH}\" y2=\"{Top + plotH}\" stroke=\"#444\"/>"));
        if (Categories is { Count: > 0 })
        {
            for (int i = 0; i < Categories.Count; i++)
            {
                svg.Append(Fmt($"<text x=\"{X(i):0.0}\" y=\"{Top + plotH + 16}\" font-size=\"11\" text-anchor=\"middle\">{Esc(Categories[i])}</text>"));
            }
        }
        else
        {
            foreach (double tick in Ticks(xMin, xMax, false))
            {
                svg.Append(Fmt($"<text x=\"{X(tick):0.0}\" y=\"{Top + plotH + 16}\" font-size=\"11\" text-anchor=\"middle\">{Num(tick)}</text>"));
            }
        }

        svg.Append(Fmt($"<text x=\"{Left + (plotW / 2):0}\" y=\"{Height - 8}\" font-size=\"12\" text-anchor=\"middle\">{Esc(XLabel)}</text>"));
        svg.Append(Fmt($"<text x=\"14\" y=\"{Top + (plotH / 2):0}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {Top + (plotH / 2):0})\">{Esc(YLabel)}</text>"));

        foreach (var m in Markers ?? Array.Empty<Marker>())
        {
            svg.Append(Fmt($"<line x1=\"{X(m.X):0.0}\" x2=\"{X(m.X):0.0}\" y1=\"{Top}\" y2=\"{Top + plotH}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>"));
            // At the foot of the line: the legend is at the top.
            svg.Append(Fmt($"<text x=\"{X(m.X) + 3:0.0}\" y=\"{Top + plotH - 4}\" font-size=\"10\" fill=\"#666\">{Esc(m.Label)}</text>"));
        }

        int seriesCount = Series.Count;
        for (int s = 0; s < seriesCount; s++)
        {
            var series = Series[s];
            string cls = "series-" + Slug(series.Name);
            switch (Kind)
            {
                case ChartKind.Lines:
                    string path = string.Join(' ', series.Points.OrderBy(p => p.X).Select(p => Fmt($"{X(p.X):0.0},{Y(p.Y):0.0}")));
                    svg.Append(Fmt($"<polyline class=\"{cls}\" fill=\"none\" stroke=\"{series.Color}\" stroke-width=\"2\" points=\"{path}\"/>"));
                    break;
                case ChartKind.Dots:
                    svg.Append(Fmt($"<g class=\"{cls}\" fill=\"{series.Color}\">"));
                    foreach (var p in series.Points)
                    {
                        svg.Append(Fmt($"<circle cx=\"{X(p.X):0.0}\" cy=\"{Y(p.Y):0.0}\" r=\"2\"/>"));
                    }

                    svg.Append("</g>");
                    break;
                default:
                    double slot = plotW / (xMax - xMin);
                    double barW = Math.Max(1, (slot * 0.8) / seriesCount);
                    svg.Append(Fmt($"<g class=\"{cls}\" fill=\"{series.Color}\">"));
                    foreach (var p in series.Points)
                    {
                        double x0 = X(p.X) - (slot * 0.4) + (s * barW);
                        svg.Append(Fmt($"<rect x=\"{x0:0.0}\" y=\"{Y(p.Y):0.0}\" width=\"{barW:0.0}\" height=\"{Math.Max(0, Top + plotH - Y(p.Y)):0.0}\"><title>{Esc(series.Name)}: {Num(p.Y)}</title></rect>"));
                    }

                    svg.Append("</g>");
                    break;
            }
        }

        // Legend.
        double lx = Left + 10;
        foreach (var series in Series)
        {
            svg.Append(Fmt($"<rect x=\"{lx:0}\" y=\"{Top + 4}\" width=\"12\" height=\"12\" fill=\"{series.Color}\"/><text x=\"{lx + 16:0}\" y=\"{Top + 14}\" font-size=\"12\">{Esc(series.Name)}</text>"));
            lx += 30 + (series.Name.Length * 7);
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    private static IEnumerable<double> Ticks(double min, double max, bool log)
    {
        if (log)
        {
            for (double t = min; t <= max * 1.0001; t *= 10)
            {
                yield return t;
            }

            yield break;
        }

        double span = max - min;
        double step = Math.Pow(10, Math.Floor(Math.Log10(span / 5)));
        foreach (double m in new[] { 1.0, 2, 5, 10 })
        {
            if (span / (step * m) <= 6)
            {
                step *= m;
                break;
            }
        }

        for (double t = Math.Ceiling(min / step) * step; t <= max + (step / 1000); t += step)
        {
            yield return Math.Round(t, 6);
        }
    }

    private static string Num(double v) => v == 0 ? "0" : Math.Abs(v) >= 100 || v == Math.Floor(v) ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Esc(string text) => WebUtility.HtmlEncode(text);

    private static string Slug(string text) => new(text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    private static string Fmt(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
