using System.Globalization;
using Governor.Interception;
using Governor.Plugins.Gray.Labeling;
using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;
using Governor.Rules;
using Microsoft.AspNetCore.Http;

namespace Governor.Benchmarks.Gray;

/// <summary>
/// An inbound call over a real <see cref="DefaultHttpContext"/>, with the same accessors as the
/// aspnetcore plugin's call (header lookups on ASP.NET Core's header dictionary, raw-text checks
/// before parsing the query string or cookies), so header costs are the real ones.
/// </summary>
internal sealed class HttpContextCall : InboundCall
{
    private readonly HttpContext _http;

    public HttpContextCall(HttpContext http) => _http = http;

    public override string Method => _http.Request.Method;

    public override string Path => _http.Request.Path.Value ?? string.Empty;

    public override string? RouteTemplate => null;

    public override string Protocol => _http.Request.Protocol;

    public override string Scheme => _http.Request.Scheme;

    public override string Host => _http.Request.Host.Value ?? string.Empty;

    public override bool IsGrpc => false;

    public override object NativeContext => _http;

    public override string? GetHeader(string name) => _http.Request.Headers.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;

    public override string? GetQuery(string name)
    {
        var raw = _http.Request.QueryString;
        if (!raw.HasValue || raw.Value!.AsSpan().IndexOf(name.AsSpan(), StringComparison.OrdinalIgnoreCase) < 0)
        {
            return null;
        }

        return _http.Request.Query.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;
    }

    public override string? GetCookie(string name) => _http.Request.Cookies.TryGetValue(name, out string? value) ? value : null;

    public override void AddResponseHeader(string name, string value)
    {
    }

    /// <summary>Forgets the context a handler created, as the provider does between requests.</summary>
    public void Reset() => ResetContext();

    private void ResetContext() => SetContext(null);
}

/// <summary>An outbound call as the httpclient plugin hands it to handlers.</summary>
internal sealed class BenchOutboundCall : OutboundCall
{
    public HttpRequestMessage? Message { get; set; }

    public override HttpRequestMessage Request => Message!;

    public override bool CanRetry => true;

    public new RequestContext? Context
    {
        get => base.Context;
        set => base.Context = value;
    }

    public override void MarkIdempotent()
    {
    }
}

internal static class Fixtures
{
    private static long s_version;

    /// <summary>A YAML rule file made of <paramref name="count"/> rules, parsed by a minimal in-process reader.</summary>
    public static RuleSet Rules(IEnumerable<(string Name, TrafficLabelRuleSpec Spec)> rules, IEnumerable<(string Name, VirtualWorkloadsSpec Spec)>? workloads = null)
    {
        var docs = new List<RuleDocument>();
        int i = 0;
        foreach (var (name, spec) in rules)
        {
            docs.Add(new RuleDocument("/rules/bench.yaml", i, i * 10, "traffic.opensergo.io/v1alpha1", TrafficLabelRuleSpec.KindName, name, null, new Dictionary<string, string>(), spec));
            i++;
        }

        foreach (var (name, spec) in workloads ?? Array.Empty<(string, VirtualWorkloadsSpec)>())
        {
            docs.Add(new RuleDocument("/rules/bench.yaml", i, i * 10, "traffic.opensergo.io/v1alpha1", VirtualWorkloadsSpec.KindName, name, null, new Dictionary<string, string>(), spec));
            i++;
        }

        return new RuleSet(Interlocked.Increment(ref s_version), docs);
    }

    /// <summary>50 rules, each "X-User-Id == 10000+i and path prefix /api": the common shape (one user list per lane).</summary>
    public static IEnumerable<(string, TrafficLabelRuleSpec)> FiftyHeaderRules() =>
        Enumerable.Range(0, 50).Select(i => ("rule" + i, new TrafficLabelRuleSpec(null, "lane" + (i % 5), null, new[]
        {
            new MatchCondition(MatchSource.Header, "X-User-Id", MatchOperator.Equal, (10000 + i).ToString(CultureInfo.InvariantCulture), Array.Empty<string>(), null, 1),
            new MatchCondition(MatchSource.Path, null, MatchOperator.Prefix, "/api", Array.Empty<string>(), null, 2),
        })));

    /// <summary>50 rules over every source and operator (header, query, cookie, path, method; ==, !=, in, prefix, regex).</summary>
    public static IEnumerable<(string, TrafficLabelRuleSpec)> FiftyMixedRules()
    {
        for (int i = 0; i < 50; i++)
        {
            string n = i.ToString(CultureInfo.InvariantCulture);
            MatchCondition condition = (i % 5) switch
            {
                0 => new MatchCondition(MatchSource.Header, "X-Tenant", MatchOperator.Equal, "tenant-" + n, Array.Empty<string>(), null, 1),
                1 => new MatchCondition(MatchSource.Query, "user", MatchOperator.In, string.Empty, new[] { "u" + n, "v" + n, "w" + n }, null, 1),
                2 => new MatchCondition(MatchSource.Cookie, "lane", MatchOperator.Prefix, "beta-" + n, Array.Empty<string>(), null, 1),
                3 => new MatchCondition(MatchSource.Path, null, MatchOperator.Regex, "^/v" + n + "/", Array.Empty<string>(), new System.Text.RegularExpressions.Regex("^/v" + n + "/", System.Text.RegularExpressions.RegexOptions.Compiled | System.Text.RegularExpressions.RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50)), 1),
                _ => new MatchCondition(MatchSource.Header, "X-Region", MatchOperator.Equal, "r" + n, Array.Empty<string>(), null, 1),
            };
            var method = new MatchCondition(MatchSource.Method, null, MatchOperator.NotEqual, "OPTIONS", Array.Empty<string>(), null, 2);
            yield return ("mixed" + n, new TrafficLabelRuleSpec(null, "lane" + (i % 5), null, new[] { method, condition }));
        }
    }

    public static HttpContextCall Request(string path, params (string Name, string Value)[] headers)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = "GET";
        http.Request.Path = path;
        http.Request.QueryString = new QueryString("?page=2&sort=name");
        foreach (var (name, value) in headers)
        {
            http.Request.Headers[name] = value;
        }

        http.Request.Headers.Cookie = "session=abc; theme=dark";
        return new HttpContextCall(http);
    }

    public static LabelMatcher Matcher(IEnumerable<(string Name, TrafficLabelRuleSpec Spec)> rules) =>
        LabelMatcher.Compile(rules.Select((r, i) => ("/rules/bench.yaml", i, r.Name, r.Spec)), new GrayStats());
}
