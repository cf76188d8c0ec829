using Governor.Interception;

namespace Governor.Plugins.Throttle.Tests.Fakes;

/// <summary>A hand-written inbound call, as the ASP.NET Core interception plugin would hand it over.</summary>
internal class FakeInboundCall : InboundCall
{
    private readonly List<KeyValuePair<string, string>> _responseHeaders = new();
    private readonly string? _requestTimeRoute;

    public FakeInboundCall(string method, string path, string? routeTemplate = null, bool grpc = false, string? matchedRoute = null, CancellationToken aborted = default)
    {
        Method = method;
        Path = path;
        _requestTimeRoute = routeTemplate;
        IsGrpc = grpc;
        MatchedRoute = matchedRoute;
        Aborted = aborted;
    }

    public override string Method { get; }

    public override string Path { get; }

    /// <summary>Known at request time only when given to the constructor (a provider that routed first).</summary>
    public override string? RouteTemplate => RouteMatched ? MatchedRoute : _requestTimeRoute;

    /// <summary>The template routing matches after the first stage: the driver runs the route stage with it.</summary>
    public string? MatchedRoute { get; }

    /// <summary>Set by the driver when routing has matched (before the route stage).</summary>
    public bool RouteMatched { get; set; }

    public CancellationToken Aborted { get; }

    public override CancellationToken RequestAborted => Aborted;

    public override string Protocol => IsGrpc ? "HTTP/2" : "HTTP/1.1";

    public override string Scheme => "http";

    public override string Host => "localhost:5000";

    public override bool IsGrpc { get; }

    public override object NativeContext => this;

    public IReadOnlyList<KeyValuePair<string, string>> ResponseHeaders => _responseHeaders;

    public override string? GetHeader(string name) => null;

    public override string? GetQuery(string name) => null;

    public override string? GetCookie(string name) => null;

    public override void AddResponseHeader(string name, string value) => _responseHeaders.Add(KeyValuePair.Create(name, value));

    /// <summary>What a pooling provider does between requests.</summary>
    public void Reset() => ResetState();
}

/// <summary>A hand-written outbound call, as the HttpClient interception plugin would hand it over.</summary>
internal sealed class FakeOutboundCall : OutboundCall
{
    public FakeOutboundCall(string url, bool grpc = false, HttpMethod? method = null)
    {
        Request = new HttpRequestMessage(method ?? HttpMethod.Get, url);
        IsGrpc = grpc;
    }

    public override HttpRequestMessage Request { get; }

    public override bool CanRetry => true;

    public override void MarkIdempotent()
    {
    }

    public void NextAttempt() => Attempt++;
}
