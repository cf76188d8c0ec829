using System.Net;
using System.Text.Json;

/// <summary>Every way the app sends HTTP. Each request carries <c>x-case: &lt;name&gt;</c> so records can be matched.</summary>
public static class HttpScenarios
{
    /// <summary>Headers every request of the current run carries (e.g. <c>x-block</c> for the blocking tests).</summary>
    private static readonly AsyncLocal<string[]?> s_extra = new();

    public static async Task<List<CaseResult>> RunAll(string self, string grpc, IHttpClientFactory factory, TypedClient typed, string run, bool block)
    {
        s_extra.Value = block ? new[] { "x-block", "1" } : null;
        string N(string name) => $"{run}:{name}";
        var results = new List<CaseResult>();
        using (var plain = new HttpClient())
        {
            results.Add(await Get(plain, N("new-httpclient"), $"{self}/headers"));
        }

        using (var withHandler = new HttpClient(new HttpClientHandler()))
        {
            results.Add(await Get(withHandler, N("httpclienthandler"), $"{self}/headers"));
        }

        using (var sockets = new HttpClient(new SocketsHttpHandler()))
        {
            results.Add(await Get(sockets, N("socketshttphandler"), $"{self}/headers"));
            results.Add(SendSync(sockets, N("sync-send"), $"{self}/headers"));
            results.Add(await Post(sockets, N("post-echo"), $"{self}/echo", "ping"));
        }

        results.Add(await Get(factory.CreateClient("named"), N("factory-named"), $"{self}/headers"));
        results.Add(await typed.Get(N("factory-typed"), $"{self}/headers"));
        var grpcClient = new GreeterClient(factory.CreateClient("grpc"), grpc);
        results.Add(await grpcClient.Call(N("grpc-sayhello"), "SayHello", "governor"));
        results.Add(await grpcClient.Call(N("grpc-fail"), "Fail", "nobody"));
        return results;
    }

    /// <summary>GET and POST to the counting endpoint, idempotent and plain gRPC calls; then how often the server was hit.</summary>
    public static async Task<List<CaseResult>> Retry(string self, string grpc, IHttpClientFactory factory, string id)
    {
        string N(string name) => $"{id}:{name}";
        var results = new List<CaseResult>();
        var http = factory.CreateClient("named");
        results.Add(await Get(http, N("retry-get"), $"{self}/count/get-{id}"));
        results.Add(await Post(http, N("retry-post"), $"{self}/count/post-{id}", "once"));
        results.Add(await Get(http, N("hits-get"), $"{self}/hits/get-{id}"));
        results.Add(await Get(http, N("hits-post"), $"{self}/hits/post-{id}"));
        var grpcClient = new GreeterClient(factory.CreateClient("grpc"), grpc);
        results.Add(await grpcClient.Call(N("retry-grpc-idempotent"), "SayHello", "again", idempotent: true));
        results.Add(await grpcClient.Call(N("retry-grpc-plain"), "SayHello", "once"));
        return results;
    }

    public static Task<CaseResult> Get(HttpClient http, string name, string url) => Send(http, name, HttpMethod.Get, url, null);

    public static Task<CaseResult> Post(HttpClient http, string name, string url, string body) => Send(http, name, HttpMethod.Post, url, new StringContent(body));

    private static async Task<CaseResult> Send(HttpClient http, string name, HttpMethod method, string url, HttpContent? content)
    {
        try
        {
            using var request = new HttpRequestMessage(method, url) { Content = content };
            request.Headers.Add("x-case", name);
            AddExtra(request);
            using var response = await http.SendAsync(request);
            return await Read(name, response);
        }
        catch (Exception ex)
        {
            return CaseResult.Failed(name, ex);
        }
    }

    private static CaseResult SendSync(HttpClient http, string name, string url)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Add("x-case", name);
            AddExtra(request);
            using var response = http.Send(request);
            using var reader = new StreamReader(response.Content.ReadAsStream());
            string body = reader.ReadToEnd();
            return new CaseResult(name, (int)response.StatusCode, body, null, null, EchoedHeader: Echoed(body));
        }
        catch (Exception ex)
        {
            return CaseResult.Failed(name, ex);
        }
    }

    public static void AddExtra(HttpRequestMessage request)
    {
        if (s_extra.Value is { } extra)
        {
            request.Headers.TryAddWithoutValidation(extra[0], extra[1]);
        }
    }

    private static async Task<CaseResult> Read(string name, HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        return new CaseResult(name, (int)response.StatusCode, body, null, null, EchoedHeader: Echoed(body));
    }

    /// <summary>The x-governor-recorded header as the server saw it (the /headers endpoint echoes x-* headers).</summary>
    private static string? Echoed(string body)
    {
        if (!body.StartsWith('{'))
        {
            return null;
        }

        using var json = JsonDocument.Parse(body);
        return json.RootElement.TryGetProperty("x-governor-recorded", out var value) ? value.GetString() : null;
    }
}

/// <summary>
/// A unary gRPC client over HttpClient (HTTP/2 with prior knowledge), built the way grpc-dotnet
/// builds one: length-prefixed protobuf messages, the status from the trailers, or from the
/// headers of a trailers-only response; an HTTP status other than 200 maps to a gRPC status as
/// grpc-dotnet maps it. Calls greet.Greeter on the grpc-js peer.
/// </summary>
public sealed class GreeterClient
{
    private readonly HttpClient _http;
    private readonly string _address;

    public GreeterClient(HttpClient http, string address)
    {
        _http = http;
        _address = address;
    }

    public async Task<CaseResult> Call(string name, string method, string who, bool idempotent = false)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{_address}/greet.Greeter/{method}")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent(Frame(Encode(who))),
            };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            request.Headers.TryAddWithoutValidation("te", "trailers");
            request.Headers.TryAddWithoutValidation("x-case", name);
            HttpScenarios.AddExtra(request);
            if (idempotent)
            {
                request.Headers.TryAddWithoutValidation("grpc-idempotent", "true");
            }

            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            string? echoed = response.Headers.TryGetValues("x-governor-recorded", out var e) ? e.First() : null;
            if (Status(response.Headers) is { } headerStatus)
            {
                return new CaseResult(name, (int)response.StatusCode, null, null, null, headerStatus.Code, headerStatus.Message, echoed);
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                // grpc-dotnet: an HTTP error without gRPC status becomes a status from the HTTP code.
                int code = response.StatusCode switch
                {
                    HttpStatusCode.BadRequest => 13,
                    HttpStatusCode.Unauthorized => 16,
                    HttpStatusCode.Forbidden => 7,
                    HttpStatusCode.NotFound => 12,
                    HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => 14,
                    _ => 2,
                };
                return new CaseResult(name, (int)response.StatusCode, null, null, null, code, $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}", echoed);
            }

            byte[] body = await response.Content.ReadAsByteArrayAsync();
            string? reply = body.Length > 5 ? Decode(body.AsSpan(5).ToArray()) : null;
            var trailer = Status(response.TrailingHeaders) ?? (2, "no grpc-status trailer");
            return new CaseResult(name, (int)response.StatusCode, reply, null, null, trailer.Code, trailer.Message, echoed);
        }
        catch (Exception ex)
        {
            // grpc-dotnet reports a failed HTTP call as StatusCode.Unavailable (14) with the exception as detail.
            return new CaseResult(name, null, null, ex.Message, ex.GetType().FullName, 14, "Error starting gRPC call. " + ex.GetType().Name + ": " + ex.Message);
        }
    }

    private static (int Code, string? Message)? Status(System.Net.Http.Headers.HttpHeaders headers)
    {
        if (!headers.TryGetValues("grpc-status", out var values))
        {
            return null;
        }

        int code = int.TryParse(values.First(), out int c) ? c : 2;
        string? message = headers.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.First()) : null;
        return (code, message);
    }

    private static byte[] Encode(string who)
    {
        using var buffer = new MemoryStream();
        var output = new Google.Protobuf.CodedOutputStream(buffer);
        output.WriteTag(1, Google.Protobuf.WireFormat.WireType.LengthDelimited);
        output.WriteString(who);
        output.Flush();
        return buffer.ToArray();
    }

    private static string? Decode(byte[] message)
    {
        var input = new Google.Protobuf.CodedInputStream(message);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (Google.Protobuf.WireFormat.GetTagFieldNumber(tag) == 1)
            {
                return input.ReadString();
            }

            input.SkipLastField();
        }

        return null;
    }

    private static byte[] Frame(byte[] message)
    {
        byte[] frame = new byte[5 + message.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        return frame;
    }
}
