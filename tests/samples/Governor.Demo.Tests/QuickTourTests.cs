using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace Governor.Demo.Tests;

/// <summary>
/// The facts the quick tour reports, checked from its summary.json and report.html. A step
/// whose plugin is in the agent home must pass with the facts that show the capability; a step
/// whose plugin is not must say "skipped: plugin not installed" and claim nothing.
/// </summary>
public sealed class QuickTourTests : IClassFixture<QuickTourFixture>
{
    private static readonly string[] s_steps = { "gray", "throttle", "sql", "restart", "warmup" };
    private readonly QuickTourFixture _tour;

    public QuickTourTests(QuickTourFixture tour) => _tour = tour;

    [Fact]
    public void Quick_EveryStep_PassedOrSkippedForAMissingPlugin()
    {
        Assert.True(_tour.ExitCode == 0, $"exit code {_tour.ExitCode}. Output:\n{_tour.Output}");
        Assert.Equal("governor-demo/v1", _tour.Summary.GetProperty("schema").GetString());
        Assert.Equal("quick", _tour.Summary.GetProperty("mode").GetString());
        Assert.Equal(0, _tour.Summary.GetProperty("failed").GetInt32());
        int passed = 0;
        int skipped = 0;
        foreach (string step in s_steps)
        {
            string[] plugins = Required(step);
            string status = _tour.Status(step);
            string headline = _tour.Step(step).GetProperty("headline").GetString()!;
            if (plugins.All(_tour.Plugins.Contains))
            {
                Assert.True(status == "Pass", $"{step}: {status}: {headline}");
                Assert.True(_tour.Facts(step).GetProperty("available").GetBoolean());
                passed++;
            }
            else
            {
                Assert.True(status == "Skipped", $"{step} ran without its plugin ({string.Join(", ", plugins)}): {status}: {headline}");
                Assert.StartsWith("skipped: plugin not installed", headline, StringComparison.Ordinal);
                Assert.False(_tour.Facts(step).GetProperty("available").GetBoolean());
                Assert.Contains(_tour.Facts(step).GetProperty("missingPlugins").EnumerateArray(), p => !_tour.Plugins.Contains(p.GetString()!));
                Assert.Contains($"SKIPPED {headline}", _tour.Output, StringComparison.Ordinal);
                skipped++;
            }
        }

        Assert.Equal(passed, _tour.Summary.GetProperty("passed").GetInt32());
        Assert.Equal(skipped, _tour.Summary.GetProperty("skipped").GetInt32());
        Assert.Contains("Summary", _tour.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Quick_Throttle_AdmitsTheLimitPerSecondAndRejectsTheRestWith429()
    {
        var facts = _tour.Facts("throttle");
        int threshold = facts.GetProperty("threshold").GetInt32();
        int seconds = facts.GetProperty("seconds").GetInt32();
        int admitted = facts.GetProperty("admitted").GetInt32();
        int blocked = facts.GetProperty("blocked").GetInt32();
        Assert.Equal(0, facts.GetProperty("otherErrors").GetInt32());
        Assert.InRange(admitted, (threshold * seconds) - threshold, (threshold * seconds) + threshold);
        Assert.True(blocked >= threshold * seconds, $"offered 3x the limit for {seconds} s, only {blocked} rejected");
        Assert.Equal(admitted + blocked, facts.GetProperty("sent").GetInt32());

        // What the gateway's agent counted agrees with what the client saw.
        Assert.Equal(admitted, facts.GetProperty("agentPassed").GetDouble());
        Assert.Equal(blocked, facts.GetProperty("agentBlocked").GetDouble());

        // Per second: no second admits more than the limit and a window's slack.
        var perSecond = facts.GetProperty("admittedPerSecond").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(seconds, perSecond.Count);
        Assert.All(perSecond, n => Assert.InRange(n, 0, threshold * 2));
        Assert.True(perSecond.Sum() <= admitted);
    }

    [Fact]
    public void Quick_SlowSql_BreakerOpensRejectsFastAndRecovers()
    {
        var facts = _tour.Facts("sql");
        Assert.True(facts.GetProperty("opened").GetBoolean());
        Assert.True(facts.GetProperty("recovered").GetBoolean());
        Assert.Equal(0, facts.GetProperty("appErrors").GetInt32());
        Assert.True(facts.GetProperty("slowAnswers").GetInt32() > 0);
        int rejections = facts.GetProperty("fastRejections").GetInt32();
        Assert.True(rejections > 0);

        // A rejection never reached the database: far faster than the 500 ms the slow query sleeps.
        Assert.True(facts.GetProperty("fastRejectionsMedianMs").GetDouble() < facts.GetProperty("slowAnswersMedianMs").GetDouble() / 2);
        Assert.True(facts.GetProperty("slowAnswersMedianMs").GetDouble() >= 500);

        // The orders service's agent counted the rejections on the report's template, and its breaker closed again.
        Assert.True(facts.GetProperty("templateRejectedByAgent").GetDouble() >= rejections);
        Assert.Equal("Closed", facts.GetProperty("breakerStateAtEnd").GetString());
        Assert.Contains(facts.GetProperty("breakerStateAfterSlowPhase").GetString(), new[] { "Open", "HalfOpen" });
    }

    [Fact]
    public void Quick_Gray_LanesHoldAndFallBackWithoutErrors()
    {
        if (!Ran("gray"))
        {
            return;
        }

        var facts = _tour.Facts("gray");
        Assert.Equal(facts.GetProperty("matchingSent").GetInt32(), facts.GetProperty("matchingInGrayLane").GetInt32());
        Assert.Equal(0, facts.GetProperty("leaks").GetInt32());
        Assert.Equal(0, facts.GetProperty("othersErrors").GetInt32());
        Assert.Equal(0, facts.GetProperty("fallbackErrors").GetInt32());
        Assert.True(facts.GetProperty("fallbackReachedBase").GetBoolean());
    }

    [Fact]
    public void Quick_RollingRestart_NoFailedRequestWithTheAgent()
    {
        if (!Ran("restart"))
        {
            return;
        }

        var facts = _tour.Facts("restart");
        Assert.True(facts.GetProperty("withAgentSent").GetInt32() > 0);
        Assert.Equal(0, facts.GetProperty("withAgentFailed").GetInt32());
        Assert.True(facts.GetProperty("withoutAgentSent").GetInt32() > 0);
    }

    [Fact]
    public void Quick_Warmup_FirstRequestsFasterWithTheAgent()
    {
        if (!Ran("warmup"))
        {
            return;
        }

        var facts = _tour.Facts("warmup");
        Assert.True(facts.GetProperty("withAgentMaxMs").GetDouble() < facts.GetProperty("withoutAgentMaxMs").GetDouble());
        Assert.True(facts.GetProperty("withAgentP99Ms").GetDouble() <= Math.Max(3 * facts.GetProperty("warmP99Ms").GetDouble(), facts.GetProperty("warmP99Ms").GetDouble() + 10));
    }

    [Fact]
    public void Quick_Report_SelfContainedHtmlWithThePlots()
    {
        Assert.True(File.Exists(_tour.ReportPath), $"no report at {_tour.ReportPath}");
        string html = File.ReadAllText(_tour.ReportPath);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.EndsWith("</html>\n", html, StringComparison.Ordinal);

        // Opens as a file: no script, stylesheet, image or font fetched from anywhere.
        Assert.DoesNotMatch(new Regex("<script|<link|<img|<iframe|@import|url\\(", RegexOptions.IgnoreCase), html);

        // One plot per measured step, each an inline SVG with data in it.
        var expected = new Dictionary<string, string[]>(StringComparer.Ordinal)
        {
            ["throttle"] = new[] { "throttle-per-second" },
            ["sql"] = new[] { "sql-per-second", "sql-latency" },
            ["gray"] = new[] { "gray-fallback", "gray-lanes" },
            ["restart"] = new[] { "restart-without", "restart-with" },
            ["warmup"] = new[] { "warmup-p99", "warmup-series" },
        };
        foreach (var (step, charts) in expected)
        {
            foreach (string id in charts)
            {
                var svg = Regex.Match(html, $"<svg [^>]*id=\"{id}\".*?</svg>", RegexOptions.Singleline);
                if (_tour.Status(step) == "Pass")
                {
                    Assert.True(svg.Success, $"{step}: no <svg id=\"{id}\"> in the report");
                    Assert.DoesNotContain("no data", svg.Value, StringComparison.Ordinal);
                    Assert.Matches("<rect x=|<circle |<polyline ", svg.Value);
                }
                else
                {
                    Assert.False(svg.Success, $"{step} is {_tour.Status(step)} but the report has its plot {id}");
                }
            }
        }

        // The throttle plot shows both series, admitted and rejected, as bars.
        string throttle = Regex.Match(html, "<svg [^>]*id=\"throttle-per-second\".*?</svg>", RegexOptions.Singleline).Value;
        Assert.Contains("series-admitted--200-", throttle, StringComparison.Ordinal);
        Assert.Contains("series-rejected--429-", throttle, StringComparison.Ordinal);

        // Open the file as a person would, in headless Chromium: the plots render (the throttle
        // plot's green and red bars, the summary's PASS badges are on screen).
        string chromium = Screenshot.Chromium()
            ?? throw new Xunit.Sdk.XunitException("headless Chromium is needed to check the report as a browser shows it: apt-get install chromium (.ci/run does)");
        var image = Screenshot.Take(chromium, _tour.ReportPath, Path.Combine(Path.GetDirectoryName(_tour.ReportPath)!, "report.png"), 900, 2400);
        Assert.Equal(900, image.Width);
        Assert.True(Screenshot.Count(image, "#2e7d32") > 2000, "no green (admitted bars, PASS badges) in the screenshot");
        Assert.True(Screenshot.Count(image, "#c62828") > 2000, "no red (rejected bars) in the screenshot");
    }

    private static string[] Required(string step) => step switch
    {
        "gray" => new[] { "gray", "aspnetcore", "httpclient" },
        "throttle" => new[] { "throttle", "aspnetcore" },
        "sql" => new[] { "sqlguard", "adonet" },
        _ => new[] { "lossless", "aspnetcore" },
    };

    /// <summary>Whether the step ran; when its plugin is absent, <see cref="Quick_EveryStep_PassedOrSkippedForAMissingPlugin"/> checks the skip.</summary>
    private bool Ran(string step)
    {
        bool available = Required(step).All(_tour.Plugins.Contains);
        Assert.Equal(available ? "Pass" : "Skipped", _tour.Status(step));
        return available;
    }
}
