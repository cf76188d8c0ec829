using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.Gray;
using Governor.Plugins.Gray.Labeling;
using Governor.Plugins.Gray.Status;

namespace Governor.Benchmarks.Gray;

/// <summary>Matching one request against 50 TrafficLabelRules (target: under 1 µs, 0 B when nothing matches).</summary>
[MemoryDiagnoser]
public class MatchBenchmarks
{
    private LabelMatcher _header = null!;
    private LabelMatcher _mixed = null!;
    private HttpContextCall _noMatch = null!;
    private HttpContextCall _lastMatches = null!;
    private HttpContextCall _mixedNoMatch = null!;
    private HttpContextCall _mixedLastMatches = null!;
    private InboundLabeler _labeler = null!;

    [GlobalSetup]
    public void Setup()
    {
        _header = Fixtures.Matcher(Fixtures.FiftyHeaderRules());
        _mixed = Fixtures.Matcher(Fixtures.FiftyMixedRules());
        _noMatch = Fixtures.Request("/api/orders/42", ("X-User-Id", "99999"), ("Accept", "application/json"), ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        _lastMatches = Fixtures.Request("/api/orders/42", ("X-User-Id", "10049"), ("Accept", "application/json"));
        _mixedNoMatch = Fixtures.Request("/api/orders/42", ("X-Tenant", "tenant-x"), ("X-Region", "eu"), ("Accept", "application/json"));
        _mixedLastMatches = Fixtures.Request("/api/orders/42", ("X-Region", "r49"), ("Accept", "application/json"));

        var stats = new GrayStats();
        var state = GrayState.Compile(Fixtures.Rules(Fixtures.FiftyHeaderRules()), "gateway", null, stats, _ => { });
        var runtime = new GrayRuntime(new GrayOptions { DnsEnabled = false }, NullLogger.Instance, state, stats);
        _labeler = new InboundLabeler(runtime);
        if (_header.Match(_lastMatches)?.Name != "rule49" || _header.Match(_noMatch) is not null || _mixed.Match(_mixedLastMatches)?.Name != "mixed49" || _mixed.Match(_mixedNoMatch) is not null)
        {
            throw new InvalidOperationException("the fixtures do not match as intended");
        }
    }

    [Benchmark(Description = "50 header rules, none matches")]
    public object? HeaderRules_NoMatch() => _header.Match(_noMatch);

    [Benchmark(Description = "50 header rules, the last matches")]
    public object? HeaderRules_LastMatches() => _header.Match(_lastMatches);

    [Benchmark(Description = "50 mixed rules, none matches")]
    public object? MixedRules_NoMatch() => _mixed.Match(_mixedNoMatch);

    [Benchmark(Description = "50 mixed rules, the last matches")]
    public object? MixedRules_LastMatches() => _mixed.Match(_mixedLastMatches);

    [Benchmark(Description = "inbound handler (carriers + 50 rules), none matches")]
    public ValueTask<InboundResponse?> Handler_NoMatch() => _labeler.OnRequestAsync(_noMatch);

    [Benchmark(Description = "inbound handler (carriers + 50 rules), the last matches")]
    public ValueTask<InboundResponse?> Handler_LastMatches()
    {
        _lastMatches.Reset();
        return _labeler.OnRequestAsync(_lastMatches);
    }
}

internal sealed class NullLogger : IGovernorLogger
{
    public static readonly NullLogger Instance = new();

    public bool IsEnabled(GovernorLogLevel level) => false;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
    }
}
