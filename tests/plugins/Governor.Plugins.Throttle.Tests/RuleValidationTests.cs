using Governor.Plugins.Throttle.Rules;
using Governor.Plugins.Throttle.Tests.Fakes;
using Xunit;

namespace Governor.Plugins.Throttle.Tests;

public sealed class RuleValidationTests
{
    // The FaultToleranceRule sample of the OpenSergo fault-tolerance spec (v1alpha1), as written there.
    internal const string OpenSergoSample = """
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: RateLimitStrategy
        metadata:
          name: rate-limit-foo
        spec:
          metricType: RequestAmount
          limitMode: Global
          threshold: 10
          statDuration: "1s"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: HttpRequestFallbackAction
        metadata:
          name: fallback-foo
        spec:
          behavior: ReturnProvidedResponse
          behaviorDesc:
            responseStatusCode: 429
            responseContentBody: "Blocked by Sentinel"
            responseAdditionalHeaders:
              - key: X-Sentinel-Limit
                value: "foo"
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: my-rule
          namespace: prod
          labels:
            app: my-app
        spec:
          targets:
            - targetResourceName: '/foo'
          strategies:
            - name: rate-limit-foo
          fallbackAction: fallback-foo
        """;

    [Fact]
    public void Validate_OpenSergoSampleWithGlobalMode_RejectsOnlyLimitModeAsNotSupportedYet()
    {
        var result = TestRules.Validate(OpenSergoSample);

        var error = Assert.Single(result.Errors);
        Assert.Equal("spec.limitMode", error.Path);
        Assert.Equal(7, error.Line);
        Assert.Equal(0, error.DocumentIndex);
        Assert.Contains("'Global' is not supported yet", error.Message);
        Assert.Contains("use Local", error.Message);
    }

    [Fact]
    public void Validate_OpenSergoSampleWithLocalMode_ParsesEveryDocumentAsWritten()
    {
        var result = TestRules.Validate(OpenSergoSample.Replace("limitMode: Global", "limitMode: Local", StringComparison.Ordinal));

        Assert.Empty(result.Errors);
        Assert.Equal(3, result.Documents.Count);
        var rate = Assert.IsType<RateLimitSpec>(result.Documents[0].Spec);
        Assert.Equal(new RateLimitSpec(10, TimeSpan.FromSeconds(1), null), rate);
        var fallback = Assert.IsType<FallbackSpec>(result.Documents[1].Spec);
        Assert.Equal(429, fallback.StatusCode);
        Assert.Equal("Blocked by Sentinel", fallback.Body);
        Assert.Equal(KeyValuePair.Create("X-Sentinel-Limit", "foo"), Assert.Single(fallback.Headers));
    }

    [Fact]
    public void Validate_OpenSergoThrottlingAndConcurrencySamples_ParseAsWritten()
    {
        var result = TestRules.Validate("""
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: ThrottlingStrategy
            metadata:
              name: throttling-foo
            spec:
              minIntervalOfRequests: '20ms'
              queueTimeout: '500ms'
            ---
            apiVersion: fault-tolerance.opensergo.io/v1alpha1
            kind: ConcurrencyLimitStrategy
            metadata:
              name: concurrency-limit-foo
            spec:
              maxConcurrency: 8
              limitMode: 'Local'
            """);

        Assert.Empty(result.Errors);
        Assert.Equal(new ThrottlingSpec(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(500)), result.Documents[0].Spec);
        Assert.Equal(new ConcurrencyLimitSpec(8), result.Documents[1].Spec);
    }

    [Theory]
    [InlineData("statDurationSeconds: 5", 5)]
    [InlineData("statDuration: 5min", 300)]
    [InlineData("statDuration: 2", 2)]
    public void Validate_StatDurationForms_AreAccepted(string durationLine, int seconds)
    {
        var result = TestRules.Validate(Doc("RateLimitStrategy", "metricType: RequestAmount", "limitMode: Local", "threshold: 100", durationLine));

        Assert.Empty(result.Errors);
        Assert.Equal(TimeSpan.FromSeconds(seconds), Assert.IsType<RateLimitSpec>(Assert.Single(result.Documents).Spec).StatDuration);
    }

    [Fact]
    public void Validate_WarmUpFields_AreReadWithDefaultColdFactor()
    {
        var result = TestRules.Validate(Doc("RateLimitStrategy", "metricType: RequestAmount", "limitMode: Local", "threshold: 100", "statDuration: 1s", "warmUpPeriodSec: 10"));

        Assert.Empty(result.Errors);
        Assert.Equal(new WarmUpSpec(10, 3), Assert.IsType<RateLimitSpec>(Assert.Single(result.Documents).Spec).WarmUp);
    }

    [Fact]
    public void Validate_FallbackWithoutBehaviorDesc_Defaults429()
    {
        var result = TestRules.Validate(Doc("HttpRequestFallbackAction", "behavior: ReturnProvidedResponse"));

        Assert.Empty(result.Errors);
        var fallback = Assert.IsType<FallbackSpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal(429, fallback.StatusCode);
        Assert.Null(fallback.Body);
    }

    [Fact]
    public void Validate_FallbackContentTypeHeader_BecomesContentType()
    {
        var result = TestRules.Validate(Doc("HttpRequestFallbackAction", "behavior: ReturnProvidedResponse", "behaviorDesc:", "  responseContentBody: '{\"error\":\"busy\"}'", "  responseAdditionalHeaders:", "    - { key: Content-Type, value: application/json }", "    - { key: Retry-After, value: 1 }"));

        Assert.Empty(result.Errors);
        var fallback = Assert.IsType<FallbackSpec>(Assert.Single(result.Documents).Spec);
        Assert.Equal("application/json", fallback.ContentType);
        Assert.Equal(KeyValuePair.Create("Retry-After", "1"), Assert.Single(fallback.Headers));
    }

    // Each case: kind, the spec's lines (separated by '|', the first on line 6), the field path,
    // the line, and a fragment of the message.
    [Theory]
    [InlineData("RateLimitStrategy", "metricType: Concurrency|limitMode: Local|threshold: 1|statDuration: 1s", "spec.metricType", 6, "'Concurrency' is not accepted; use one of: RequestAmount")]
    [InlineData("RateLimitStrategy", "limitMode: Local|threshold: 1|statDuration: 1s", "spec.metricType", 6, "is required")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|statDuration: 1s", "spec.threshold", 6, "is required")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: -1|statDuration: 1s", "spec.threshold", 8, "-1 is out of range; use 0 to 1000000000")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: \"10\"|statDuration: 1s", "spec.threshold", 8, "must be a number")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 0.5|statDuration: 1s", "spec.threshold", 8, "admits nothing")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1", "spec.statDuration", 6, "is required (a duration such as \"1s\"), or statDurationSeconds")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: soon", "spec.statDuration", 9, "must be a duration")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 500ms", "spec.statDuration", 9, "500ms is out of range; use 1s to 86400s")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 1s|statDurationSeconds: 1", "spec.statDurationSeconds", 10, "use either statDuration or statDurationSeconds, not both")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDurationSeconds: 0", "spec.statDurationSeconds", 9, "0 is out of range")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Global|threshold: 1|statDuration: 1s", "spec.limitMode", 7, "'Global' is not supported yet")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: GlobalToLocal|threshold: 1|statDuration: 1s", "spec.limitMode", 7, "'GlobalToLocal' is not supported yet")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|threshold: 1|statDuration: 1s", "spec.limitMode", 6, "is required")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 1s|warmUpPeriodSec: 0", "spec.warmUpPeriodSec", 10, "0 is out of range; use 1 to 3600")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 1s|warmUpPeriodSec: 10|coldFactor: 1", "spec.coldFactor", 11, "1 is out of range; use 2 to 100")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 1s|coldFactor: 3", "spec.coldFactor", 10, "only applies with warmUpPeriodSec")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 2s|warmUpPeriodSec: 10", "spec.warmUpPeriodSec", 10, "needs statDuration: \"1s\"")]
    [InlineData("RateLimitStrategy", "metricType: RequestAmount|limitMode: Local|threshold: 1|statDuration: 1s|treshold: 2", "spec.treshold", 10, "unknown field 'treshold'")]
    [InlineData("ThrottlingStrategy", "queueTimeout: 500ms", "spec.minIntervalOfRequests", 6, "is required")]
    [InlineData("ThrottlingStrategy", "minIntervalOfRequests: 0ms|queueTimeout: 500ms", "spec.minIntervalOfRequests", 6, "0ms is out of range")]
    [InlineData("ThrottlingStrategy", "minIntervalOfRequests: 20ms|queueTimeout: 2m", "spec.queueTimeout", 7, "2m is out of range")]
    [InlineData("ThrottlingStrategy", "minIntervalOfRequests: 20ms|queueTimeout: later", "spec.queueTimeout", 7, "must be a duration")]
    [InlineData("ConcurrencyLimitStrategy", "maxConcurrency: 0|limitMode: Local", "spec.maxConcurrency", 6, "0 is out of range")]
    [InlineData("ConcurrencyLimitStrategy", "maxConcurrency: 5|limitMode: Global", "spec.limitMode", 7, "'Global' is not supported yet")]
    [InlineData("ConcurrencyLimitStrategy", "limitMode: Local", "spec.maxConcurrency", 6, "is required")]
    [InlineData("HttpRequestFallbackAction", "behavior: Redirect", "spec.behavior", 6, "'Redirect' is not accepted; use one of: ReturnProvidedResponse")]
    [InlineData("HttpRequestFallbackAction", "behavior: ReturnProvidedResponse|behaviorDesc:|  responseStatusCode: 700", "spec.behaviorDesc.responseStatusCode", 8, "700 is out of range; use 100 to 599")]
    [InlineData("HttpRequestFallbackAction", "behavior: ReturnProvidedResponse|behaviorDesc:|  responseAdditionalHeaders:|    - key: Bad Header|      value: x", "spec.behaviorDesc.responseAdditionalHeaders[0].key", 9, "'Bad Header' is not a valid header name")]
    [InlineData("HttpRequestFallbackAction", "behavior: ReturnProvidedResponse|behaviorDesc:|  responseAdditionalHeaders:|    - key: X-Limit", "spec.behaviorDesc.responseAdditionalHeaders[0].value", 9, "is required")]
    [InlineData("HttpRequestFallbackAction", "behavior: ReturnProvidedResponse|behaviorDesc:|  responseBody: x", "spec.behaviorDesc.responseBody", 8, "unknown field 'responseBody'")]
    public void Validate_BadField_NamesPathAndLine(string kind, string specLines, string path, int line, string message)
    {
        var result = TestRules.Validate(Doc(kind, specLines.Split('|')));

        Assert.Empty(result.Documents);
        var error = Assert.Single(result.Errors);
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Line);
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"/rules/throttle.yaml:{line}: {path}: ", error.ToString());
    }

    [Fact]
    public void Validate_SeveralBadFields_ReportsEveryOne()
    {
        var result = TestRules.Validate(Doc("RateLimitStrategy", "metricType: Bytes", "limitMode: Global", "threshold: -5", "statDuration: 1s"));

        Assert.Equal(new[] { "spec.limitMode", "spec.metricType", "spec.threshold" }, result.Errors.Select(e => e.Path).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void RuleKinds_ComparedWithPluginJson_MatchKindsGroupAndOrder()
    {
        string manifest = File.ReadAllText(Path.Combine(RepoRoot(), "plugins", "throttle", "plugin.json"));
        using var json = System.Text.Json.JsonDocument.Parse(manifest);
        var declared = json.RootElement.GetProperty("ruleKinds").EnumerateArray().Select(e => e.GetString()).ToArray();

        Assert.Equal(declared, new ThrottlePlugin().RuleKinds.Select(k => k.Kind));
        Assert.All(new ThrottlePlugin().RuleKinds, k => Assert.Equal("fault-tolerance.opensergo.io", k.Group));
        Assert.Equal(ThrottlePlugin.PipelineOrder, json.RootElement.GetProperty("order").GetInt32());
    }

    private static string Doc(string kind, params string[] specLines) => TestRules.Document(kind, "a", specLines);

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Agent.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Agent.sln not found");
    }
}
