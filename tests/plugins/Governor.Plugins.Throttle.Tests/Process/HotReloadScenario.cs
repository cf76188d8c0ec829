using System.Globalization;
using Governor.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Governor.Plugins.Throttle.Tests.Process;

/// <summary>
/// A rate limit lowered from 100 to 20 per second while load runs, inbound (requests to
/// /load/reload) or outbound (the app's calls to its own /load/reload-outbound, one per request
/// to /call): the new limit holds in every whole second that starts a second after the rule file
/// was written, and the status shows it within 2 s.
/// </summary>
internal static class HotReloadScenario
{
    public static async Task RunAsync(ThrottleAppFixture app, ITestOutputHelper output, bool inbound)
    {
        string name = inbound ? "reload" : "reload-outbound";
        string target = inbound ? "/load/reload" : app.DownstreamResource(name);
        string url = inbound ? $"{app.Http1}/load/reload" : app.CallUrl(name);
        // Inbound: 200 per second, so the old limit shows (100 a second). Outbound: 60 per second,
        // under the old limit (nothing rejected before the change), over the new one.
        int rate = inbound ? 200 : 60;

        // 10 s of load: the rule is written 2.5 s after the first request is served, which the
        // load's start alignment and a loaded machine can push into its 5th second; at least two
        // whole seconds must remain after the first one that starts a second after the write.

        // The path warmed up first (an unlimited name, not counted), so the load's first seconds
        // measure the limit, not the first requests' JIT and connection set-up.
        app.Load($"rate --url {(inbound ? $"{app.Http1}/load/warm-{name}" : app.CallUrl($"warm-{name}"))} --rate 50 --seconds 1");
        var loading = Task.Run(() => app.Load($"rate --url {url} --rate {rate} --seconds 10 --align-second"));
        while (app.Served(name).Count == 0)
        {
            Assert.False(loading.IsCompleted, "the load ended before the app served anything");
            await Task.Delay(20);
        }

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var old = app.Status.WaitFor(_ => true);
        double writtenAt = ThrottleAppFixture.NowMs();
        app.Home.WriteRule($"{name}.yaml", ThrottleAppFixture.ReloadRule(name, target, 20));

        // When the agent reports the new limit (its status file is rewritten every 200 ms here).
        app.Status.WaitFor(s => ThrottleStatus.Gauge(s, target, "rateLimit") == 20, TimeSpan.FromSeconds(10), "the new limit");
        double reportedAt = ThrottleAppFixture.NowMs();
        var load = await loading;
        // Outbound: when the app made the calls that got through (the throttle decides then; the
        // downstream's arrivals can trail that by a loaded machine's delays).
        var times = app.Served(inbound ? name : $"call-{name}").TimesMs;
        // Windows that start on a bucket edge (whole seconds are) hold at most the threshold:
        // the app's whole seconds show the limit in force. The first whole second that starts
        // a second or more after the write ends within 2 s of it, and from there on every
        // second holds at most 20 (+2 for a request the app ran a moment after its admission).
        var perSecond = times.GroupBy(t => (long)Math.Floor(t / 1000)).ToDictionary(g => g.Key, g => g.Count());
        long firstAfter = (long)Math.Ceiling((writtenAt + 1000) / 1000);
        long lastLoaded = (long)Math.Floor(load.Root.GetProperty("lastSentMs").GetDouble() / 1000) - 1;
        long lastBefore = (long)Math.Floor(writtenAt / 1000) - 1;
        var after = Enumerable.Range(0, (int)(lastLoaded - firstAfter + 1)).Select(k => perSecond.GetValueOrDefault(firstAfter + k)).ToArray();
        output.WriteLine($"served {times.Length}; per whole second {string.Join(",", perSecond.OrderBy(p => p.Key).Select(p => p.Key == lastBefore + 1 ? $"[{p.Value}]" : p.Value.ToString(CultureInfo.InvariantCulture)))} ([the second of the change]); offered per second {string.Join(",", load.SentPerSecond.OrderBy(p => p.Key).Select(p => p.Value))}, scheduler lag max {load.MaxLagMs:F0} ms; the status file showed the new limit {reportedAt - writtenAt:F0} ms after the file was written");

        // Before: the old limit (100 in a whole second inbound; outbound, everything offered
        // passed). A second can hold fewer when arrivals dip, never more.
        Assert.Equal(100, ThrottleStatus.Gauge(old, target, "rateLimit"));
        long firstFull = (long)Math.Floor(load.Root.GetProperty("firstSentMs").GetDouble() / 1000) + 1;
        var before = Enumerable.Range(0, (int)(lastBefore - firstFull + 1)).Select(k => perSecond.GetValueOrDefault(firstFull + k)).ToArray();
        Assert.NotEmpty(before);
        if (inbound)
        {
            Assert.All(before, n => Assert.InRange(n, 0, 110));
            Assert.InRange(before.Max(), 90, 110);
        }
        else
        {
            Assert.Equal(0, StatusFile.Counter(old, "throttle", target, "blocked"));
            Assert.InRange(before.Max(), 50, 70);
        }

        Assert.True(after.Length >= 2, $"only {after.Length} whole loaded seconds after the change");
        Assert.All(after, n => Assert.InRange(n, 0, 22));
        Assert.Contains(after, n => n >= 15);
        Assert.True(reportedAt - writtenAt <= 2000, $"the new limit was reported {reportedAt - writtenAt:F0} ms after the change");
        Assert.True(inbound ? load.Status(429) > 0 : load.Signatures.Keys.Any(k => k.Contains("\"status\":429", StringComparison.Ordinal)), load.ToString());
    }
}
