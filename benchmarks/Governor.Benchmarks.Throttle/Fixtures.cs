using System.Threading.RateLimiting;
using Governor.Interception;
using Governor.Plugins.Throttle;
using Governor.Plugins.Throttle.Limiting;
using Governor.Plugins.Throttle.Rules;
using Governor.Rules;
using Governor.Rules.OpenSergo;

namespace Governor.Benchmarks.Throttle;

/// <summary>Rules and calls for the benchmarks, built without the agent (the specs are the plugin's own types).</summary>
internal static class Fixtures
{
    /// <summary>High enough that every call in a benchmark run passes: the pass path is what is measured.</summary>
    public const long PassThreshold = 1_000_000_000;

    /// <summary>
    /// A realistic rule set: 20 inbound resources (paths, method-qualified paths, route
    /// templates, gRPC methods) and 5 outbound hosts, each with a rate limit; some with a
    /// concurrency limit.
    /// </summary>
    public static RuleSet Rules()
    {
        var docs = new List<RuleDocument>
        {
            Doc(ThrottleRuleKinds.RateLimit, "rate", new RateLimitSpec(PassThreshold, TimeSpan.FromSeconds(1), null)),
            Doc(ThrottleRuleKinds.ConcurrencyLimit, "concurrency", new ConcurrencyLimitSpec(1_000_000)),
        };
        var targets = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            targets.Add($"/api/v1/items{i}");
            targets.Add($"POST:/api/v1/items{i}");
        }

        targets.AddRange(new[] { "/api/orders", "/api/orders/{id}", "/greet.Greeter/SayHello", "GET:/health" });
        targets.AddRange(new[] { "api.example.com", "payments.example.com:8443", "search.example.com/v2/query", "inventory", "10.0.0.7:5000" });
        docs.Add(Doc(FaultToleranceRuleSpec.KindName, "rule", new FaultToleranceRuleSpec(null, targets, new[] { new StrategyRef("rate", null) }, null)));
        docs.Add(Doc(FaultToleranceRuleSpec.KindName, "slow", new FaultToleranceRuleSpec(null, new[] { "/api/slow" }, new[] { new StrategyRef("rate", null), new StrategyRef("concurrency", null) }, null)));
        return new RuleSet(1, docs);
    }

    /// <summary>The baseline: a token bucket that never runs dry, so every acquisition is on its pass path.</summary>
    public static TokenBucketRateLimiter TokenBucket() => new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = int.MaxValue,
        TokensPerPeriod = int.MaxValue,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    });

    public static ThrottleEngine Engine()
    {
        var engine = new ThrottleEngine(NullLogger.Instance, ThrottleClock.System, "bench", ThrottleSettings.Default);
        engine.Apply(Rules());
        return engine;
    }

    private static RuleDocument Doc(string kind, string name, object spec) =>
        new("bench.yaml", 0, 1, "fault-tolerance.opensergo.io/v1alpha1", kind, name, null, new Dictionary<string, string>(), spec);
}

internal sealed class NullLogger : IGovernorLogger
{
    public static readonly NullLogger Instance = new();

    public bool IsEnabled(GovernorLogLevel level) => false;

    public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
    {
    }
}

/// <summary>
/// The throttle's inbound handlers as the ASP.NET Core provider runs them: the path handler and
/// the route handler (subscribed because the rules name a route template) in the first stage,
/// before routing; the route handler's route stage once routing matched; completion in reverse.
/// </summary>
internal sealed class InboundCheck
{
    private readonly InboundThrottleHandler _paths;
    private readonly RouteThrottleHandler _routes;

    public InboundCheck(ThrottleEngine engine)
    {
        _paths = new InboundThrottleHandler(engine);
        _routes = new RouteThrottleHandler(engine);
    }

    /// <summary>One request; true when it passed.</summary>
    public bool Run(BenchInboundCall call)
    {
        call.RouteMatched = false;
        call.HandlerIndex = 0;
        bool passed = _paths.OnRequestAsync(call).Result is null;
        call.HandlerIndex = 1;
        passed &= _routes.OnRequestAsync(call).Result is null;
        if (passed && call.MatchedRoute is not null)
        {
            call.RouteMatched = true;
            passed = _routes.OnRouteMatchedAsync(call).Result is null;
        }

        _routes.OnCompleted(call, default);
        call.HandlerIndex = 0;
        _paths.OnCompleted(call, default);
        return passed;
    }
}

/// <summary>An inbound call as an ASP.NET Core provider would present it (fixed values, nothing computed); the route template is known once routing matched.</summary>
internal sealed class BenchInboundCall : InboundCall
{
    public BenchInboundCall(string method, string path, string? matchedRoute)
    {
        Method = method;
        Path = path;
        MatchedRoute = matchedRoute;
    }

    public override string Method { get; }

    public override string Path { get; }

    public string? MatchedRoute { get; }

    public bool RouteMatched { get; set; }

    public override string? RouteTemplate => RouteMatched ? MatchedRoute : null;

    public override string Protocol => "HTTP/1.1";

    public override string Scheme => "http";

    public override string Host => "localhost";

    public override bool IsGrpc => false;

    public override object NativeContext => this;

    public override string? GetHeader(string name) => null;

    public override string? GetQuery(string name) => null;

    public override string? GetCookie(string name) => null;

    public override void AddResponseHeader(string name, string value)
    {
    }
}

internal sealed class BenchOutboundCall : OutboundCall
{
    public BenchOutboundCall(string url)
    {
        Request = new HttpRequestMessage(HttpMethod.Get, url);
    }

    public override HttpRequestMessage Request { get; }

    public override bool CanRetry => true;

    public override void MarkIdempotent()
    {
    }
}
