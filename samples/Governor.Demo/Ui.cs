using System.Globalization;

namespace Governor.Demo;

/// <summary>
/// The tour's console output. On a terminal a live line is rewritten in place; redirected
/// (a test, a CI log), every update is its own line so nothing is lost.
/// </summary>
internal static class Ui
{
    private static readonly bool s_terminal = !Console.IsOutputRedirected;
    private static readonly bool s_color = s_terminal && Environment.GetEnvironmentVariable("NO_COLOR") is null;
    private static readonly object s_lock = new();
    private static bool s_liveOpen;

    public static void Title(string text) => Line(string.Empty, text, "1");

    public static void Step(int number, int total, string title) => Line(Environment.NewLine, string.Create(CultureInfo.InvariantCulture, $"[{number}/{total}] {title}"), "1;36");

    public static void Info(string text) => Line(string.Empty, "  " + text, null);

    public static void Live(string text)
    {
        lock (s_lock)
        {
            if (s_terminal)
            {
                int width = Math.Max(20, SafeWidth() - 1);
                string shown = ("  " + text).Length > width ? ("  " + text)[..width] : "  " + text;
                Console.Write("\r" + shown.PadRight(width));
                s_liveOpen = true;
            }
            else
            {
                Console.WriteLine("  " + text);
            }
        }
    }

    public static void Result(StepResult result)
    {
        Line(string.Empty, $"  {Paint(StepResult.Label(result.Status), StepResult.Color(result.Status))} {result.Headline}", null);
    }

    public static string Paint(string text, string color) => s_color ? $"\u001b[{color}m{text}\u001b[0m" : text;

    public static void Error(string text)
    {
        CloseLive();
        Console.Error.WriteLine("governor-demo: " + text);
    }

    private static void Line(string prefix, string text, string? color)
    {
        lock (s_lock)
        {
            CloseLive();
            Console.WriteLine(prefix + (color is null ? text : Paint(text, color)));
        }
    }

    private static void CloseLive()
    {
        if (s_liveOpen)
        {
            Console.WriteLine();
            s_liveOpen = false;
        }
    }

    private static int SafeWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 100;
        }
        catch (IOException)
        {
            return 100;
        }
    }
}
