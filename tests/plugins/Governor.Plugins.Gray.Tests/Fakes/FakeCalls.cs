using Governor.Interception;

namespace Governor.Plugins.Gray.Tests.Fakes;

/// <summary>An inbound request made of plain dictionaries.</summary>
internal sealed class FakeInboundCall : InboundCall
{
    public FakeInboundCall(string path = "/", string method = "GET")
    {
        Path = path;
        Method = method;
    }

    public override string Method { get; }

    public override string Path { get; }

    public override string? RouteTemplate => null;

    public override string Protocol => "HTTP/1.1";

    public override string Scheme => "http";

    public override string Host => "127.0.0.1";

    public override bool IsGrpc => false;

    public override object NativeContext => this;

    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    public Dictionary<string, string> Query { get; } = new(StringComparer.OrdinalIgnoreCase);

    public Dictionary<string, string> Cookies { get; } = new(StringComparer.Ordinal);

    /// <summary>How many times each attribute was read (to prove a request reads each at most once).</summary>
    public int Reads { get; private set; }

    public FakeInboundCall WithHeader(string name, string value)
    {
        Headers[name] = value;
        return this;
    }

    public FakeInboundCall WithQuery(string name, string value)
    {
        Query[name] = value;
        return this;
    }

    public FakeInboundCall WithCookie(string name, string value)
    {
        Cookies[name] = value;
        return this;
    }

    public override string? GetHeader(string name)
    {
        Reads++;
        return Headers.TryGetValue(name, out string? v) ? v : null;
    }

    public override string? GetQuery(string name)
    {
        Reads++;
        return Query.TryGetValue(name, out string? v) ? v : null;
    }

    public override string? GetCookie(string name)
    {
        Reads++;
        return Cookies.TryGetValue(name, out string? v) ? v : null;
    }

    public override void AddResponseHeader(string name, string value)
    {
    }
}

/// <summary>An outbound call as a provider would hand it to handlers.</summary>
internal sealed class FakeOutboundCall : OutboundCall
{
    private readonly HttpRequestMessage _request;
    private bool _idempotent;

    public FakeOutboundCall(HttpRequestMessage request, RequestContext? context)
    {
        _request = request;
        Context = context;
        IsGrpc = request.Content?.Headers.ContentType?.MediaType == "application/grpc";
    }

    public override HttpRequestMessage Request => _request;

    /// <summary>As the httpclient plugin judges: idempotent methods, or gRPC calls marked idempotent; a buffered body.</summary>
    public override bool CanRetry =>
        (_request.Method == HttpMethod.Get || _request.Method == HttpMethod.Head || _request.Method == HttpMethod.Put || _request.Method == HttpMethod.Delete
            || (IsGrpc && (_idempotent || (_request.Headers.TryGetValues("grpc-idempotent", out var v) && v.Contains("true")))))
        && _request.Content is null or ByteArrayContent;

    public override void MarkIdempotent() => _idempotent = true;

    public void NextAttempt() => Attempt++;
}
