using Governor.Core.Logging;
using Governor.Testing;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using Xunit;

namespace Governor.Core.Tests.Logging;

public sealed class RollingFileSinkTests
{
    private static readonly MessageTemplateTextFormatter s_formatter = new("{Message}{NewLine}", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Emit_SameDay_AppendsToTheDaysFile()
    {
        using var dir = new TempDirectory();
        using var sink = new RollingFileSink(dir.Path, "governor-app-42-", s_formatter, sizeLimit: 1024, retained: 5);

        sink.Emit(Event(new DateTimeOffset(2026, 11, 22, 8, 0, 0, TimeSpan.Zero), "one"));
        sink.Emit(Event(new DateTimeOffset(2026, 11, 22, 9, 0, 0, TimeSpan.Zero), "two"));

        Assert.Equal(new[] { "governor-app-42-20261122.log" }, Names(dir.Path));
        Assert.Equal("one\ntwo\n", File.ReadAllText(Path.Combine(dir.Path, "governor-app-42-20261122.log")).Replace("\r\n", "\n"));
    }

    [Fact]
    public void Emit_NextDay_NewFile()
    {
        using var dir = new TempDirectory();
        using var sink = new RollingFileSink(dir.Path, "governor-app-42-", s_formatter, sizeLimit: 1024, retained: 5);

        sink.Emit(Event(new DateTimeOffset(2026, 11, 22, 23, 59, 0, TimeSpan.Zero), "late"));
        sink.Emit(Event(new DateTimeOffset(2026, 11, 23, 0, 1, 0, TimeSpan.Zero), "early"));

        Assert.Equal(new[] { "governor-app-42-20261122.log", "governor-app-42-20261123.log" }, Names(dir.Path));
        Assert.Contains("early", File.ReadAllText(Path.Combine(dir.Path, "governor-app-42-20261123.log")));
    }

    [Fact]
    public void Emit_SizeLimitReached_RollsToNumberedFilesAndKeepsTheNewest()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "governor-other-7-20261122.log"), "another process's log");
        using var sink = new RollingFileSink(dir.Path, "governor-app-42-", s_formatter, sizeLimit: 100, retained: 3);
        var day = new DateTimeOffset(2026, 11, 22, 8, 0, 0, TimeSpan.Zero);

        for (int i = 0; i < 30; i++)
        {
            sink.Emit(Event(day, new string('x', 40)));
        }

        Assert.Equal(
            new[] { "governor-app-42-20261122_007.log", "governor-app-42-20261122_008.log", "governor-app-42-20261122_009.log", "governor-other-7-20261122.log" },
            Names(dir.Path));
        Assert.All(Directory.GetFiles(dir.Path, "governor-app-42-*"), f => Assert.True(new FileInfo(f).Length <= 100 + 41, $"{f} grew past the limit"));
    }

    private static string[] Names(string directory) => Directory.GetFiles(directory).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray()!;

    private static LogEvent Event(DateTimeOffset at, string text) =>
        new(at, LogEventLevel.Information, null, new MessageTemplate(new[] { new TextToken(text) }), Array.Empty<LogEventProperty>());
}
