using System.Diagnostics;
using System.Globalization;
using System.Text;
using Governor.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// Rolling restarts under load through a load balancer that behaves like Kubernetes endpoints,
/// the same run without and with the agent, reported side by side.
/// </summary>
[Collection(LosslessProcessCollection.Name)]
public sealed class RollingRestartTests
{
    private const int Rate = 250;
    private const int Rounds = 3;
    private readonly LosslessFixture _fixture;
    private readonly ITestOutputHelper _output;

    public RollingRestartTests(LosslessFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [Fact]
    public async Task RollingRestart_TwoInstancesThreeRoundsUnderKeepAliveLoad_NoFailedRequestWithTheAgent()
    {
        var app = _fixture.LosslessApp;

        var without = await RunAsync(app, withAgent: false);
        var with = await RunAsync(app, withAgent: true);

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"machine: {Environment.ProcessorCount} cores, load average {LosslessFixture.LoadAverage()}; LosslessApp net10.0, GET /work?ms=20 at {Rate}/s over keep-alive, 2 instances, {Rounds} rolling restarts (6 replacements), pool leave delay 1 s, probe period 50 ms, drain delay {LosslessInstance.TestDrainDelay}");
        report.AppendLine("| | requests | failed | achieved rate (req/s) | connections reset by the LB | duration (s) |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in new[] { without, with })
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| {r.Label} | {r.Sent} | {r.Failed} | {r.Rate:0} | {r.Resets} | {r.Duration.TotalSeconds:0.0} |");
        }

        report.AppendLine("failures without the agent (first samples):");
        foreach (string f in without.Samples.Take(5))
        {
            report.AppendLine("  " + f);
        }

        _output.WriteLine(report.ToString());
        LosslessFixture.Record("lossless-rolling-restart.txt", report.ToString());

        Assert.True(with.Rate >= 200 && without.Rate >= 200, $"the load must reach 200 req/s: {report}");
        Assert.True(with.Failed == 0, $"with the agent {with.Failed} request(s) failed:\n{string.Join('\n', with.Samples)}\nLB events:\n{string.Join('\n', with.Events)}\n{report}");
        Assert.True(without.Failed > 0, $"the run without the agent had no failures, so this test shows nothing:\n{report}");
    }

    private async Task<RunResult> RunAsync(PublishedApp app, bool withAgent)
    {
        var home = withAgent ? _fixture.Home : null;
        string prefix = withAgent ? "agent" : "plain";
        int generation = 0;
        var slots = new LosslessInstance[2];
        var stopping = new List<LosslessInstance>();
        await using var proxy = new KubeEndpointsProxy(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50));

        LosslessInstance StartOne(int slot)
        {
            var instance = LosslessInstance.Start(app, home, $"{prefix}-{slot}-{generation++}");
            proxy.Add(instance.Name, instance.AppPort, instance.ReadyUrl);
            return instance;
        }

        try
        {
            for (int slot = 0; slot < slots.Length; slot++)
            {
                slots[slot] = StartOne(slot);
            }

            foreach (var instance in slots)
            {
                await proxy.WaitInPoolAsync(instance.Name, TimeSpan.FromSeconds(60));
            }

            await using var load = new LoadGenerator(proxy.Url, "/work?ms=20", Rate);
            load.Start();
            await Task.Delay(1000);
            var clock = Stopwatch.StartNew();
            for (int round = 0; round < Rounds; round++)
            {
                for (int slot = 0; slot < slots.Length; slot++)
                {
                    // maxSurge 1, maxUnavailable 0: the new instance is in the pool before the old one is told to stop.
                    var next = StartOne(slot);
                    await proxy.WaitInPoolAsync(next.Name, TimeSpan.FromSeconds(60));
                    var old = slots[slot];
                    slots[slot] = next;
                    // Like the deployment controller, the rollout goes on while the old one terminates.
                    old.Process.Terminate();
                    stopping.Add(old);
                }
            }

            foreach (var old in stopping)
            {
                Assert.True(await old.WaitExitAsync(TimeSpan.FromSeconds(30)), $"{old.Name} did not exit after SIGTERM");
                proxy.Remove(old.Name);
            }

            await Task.Delay(1000);
            await load.StopAsync();
            return new RunResult(withAgent ? "with the agent" : "without the agent", load.Sent, load.Failed, load.AchievedRate, proxy.Resets, clock.Elapsed, load.FailureSamples, proxy.Events);
        }
        finally
        {
            foreach (var instance in slots.Concat(stopping))
            {
                instance?.Dispose();
            }
        }
    }


    private sealed record RunResult(string Label, long Sent, long Failed, double Rate, long Resets, TimeSpan Duration, IReadOnlyList<string> Samples, IReadOnlyList<string> Events);
}
