using Governor.Interception;
using Microsoft.AspNetCore.Http;

namespace Governor.Plugins.Lossless.Tests.Unit;

/// <summary>An inbound call over a DefaultHttpContext, recording the response headers handlers add.</summary>
internal sealed class FakeInboundCall : InboundCall
{
    private readonly DefaultHttpContext _http = new();
    private readonly bool _record;

    /// <param name="record">False for allocation tests: added headers are dropped, not kept in a list.</param>
    public FakeInboundCall(string protocol = "HTTP/1.1", string path = "/", bool record = true)
    {
        _record = record;
        _http.Request.Protocol = protocol;
        _http.Request.Path = path;
        _http.Request.Method = "GET";
    }

    public List<KeyValuePair<string, string>> AddedHeaders { get; } = new();

    public override string Method => _http.Request.Method;

    public override string Path => _http.Request.Path.Value ?? string.Empty;

    public override string? RouteTemplate => null;

    public override string Protocol => _http.Request.Protocol;

    public override string Scheme => "http";

    public override string Host => "127.0.0.1";

    public override bool IsGrpc => false;

    public override object NativeContext => _http;

    public override string? GetHeader(string name) => null;

    public override string? GetQuery(string name) => null;

    public override string? GetCookie(string name) => null;

    public override void AddResponseHeader(string name, string value)
    {
        if (_record)
        {
            AddedHeaders.Add(new(name, value));
        }
    }

    public string? Header(string name) => AddedHeaders.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
}

/// <summary>An outbound call with a settable attempt number and the contract's idempotency rule.</summary>
internal sealed class FakeOutboundCall : OutboundCall
{
    private bool _marked;

    public FakeOutboundCall(HttpMethod method, int attempt = 0, bool grpc = false)
    {
        Request = new HttpRequestMessage(method, "http://orders.shop:8080/orders/1");
        Attempt = attempt;
        IsGrpc = grpc;
    }

    public override HttpRequestMessage Request { get; }

    public override bool CanRetry => _marked || (!IsGrpc && Request.Method.Method is "GET" or "HEAD" or "PUT" or "DELETE" or "OPTIONS" or "TRACE");

    public override void MarkIdempotent() => _marked = true;
}

/// <summary>A status collector that keeps what it is given.</summary>
internal sealed class RecordingCollector : Governor.Status.StatusCollector
{
    public Dictionary<string, double> Values { get; } = new();

    public Dictionary<string, string> States { get; } = new();

    public override void Counter(string resource, string name, long value) => Values[$"{resource}.{name}"] = value;

    public override void Gauge(string resource, string name, double value) => Values[$"{resource}.{name}"] = value;

    public override void State(string resource, string state) => States[resource] = state;
}
