using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace Shop.Contracts;

/// <summary>gRPC's framing: a 1-byte compression flag, a 4-byte big-endian length, the protobuf message.</summary>
public static class GrpcWire
{
    public const string ContentType = "application/grpc";

    public static byte[] Frame(IMessage message)
    {
        byte[] payload = message.ToByteArray();
        byte[] frame = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    public static async Task<T?> ReadAsync<T>(Stream stream, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        byte[] header = new byte[5];
        if (!await ReadExactlyOrEndAsync(stream, header, cancellationToken))
        {
            return default;
        }

        if (header[0] != 0)
        {
            throw new InvalidDataException("compressed gRPC messages are not supported by this sample");
        }

        byte[] payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1))];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        return parser.ParseFrom(payload);
    }

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                return read == 0 ? false : throw new EndOfStreamException("truncated gRPC message");
            }

            read += n;
        }

        return true;
    }
}

/// <summary>A failed gRPC call: the status code and message from the server's trailers (or headers).</summary>
public sealed class GrpcCallException : Exception
{
    public GrpcCallException(int status, string? detail)
        : base($"gRPC status {status}: {detail}")
    {
        Status = status;
        Detail = detail;
    }

    public int Status { get; }

    public string? Detail { get; }
}

/// <summary>A unary gRPC client over HttpClient (HTTP/2 cleartext), built the way grpc-dotnet builds one.</summary>
public sealed class InventoryClient
{
    private readonly HttpClient _http;

    public InventoryClient(HttpClient http) => _http = http;

    public async Task<StockReply> GetStockAsync(StockRequest request, CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/shop.inventory.v1.Inventory/GetStock")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(GrpcWire.Frame(request)),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(GrpcWire.ContentType);
        message.Headers.TryAddWithoutValidation("te", "trailers");
        // GetStock is idempotent: callers (and governance) may retry it.
        message.Headers.TryAddWithoutValidation("grpc-idempotent", "true");

        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        // A trailers-only response (an error, or an answer from governance) has the status in the headers.
        if (Status(response.Headers) is { } headerStatus && headerStatus.Code != 0)
        {
            throw new GrpcCallException(headerStatus.Code, headerStatus.Message);
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new GrpcCallException(14, $"HTTP {(int)response.StatusCode} from the inventory service");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var reply = await GrpcWire.ReadAsync(body, StockReply.Parser, cancellationToken);
        // Drain so the trailers arrive.
        while (await body.ReadAsync(new byte[256], cancellationToken) > 0)
        {
        }

        var trailerStatus = Status(response.TrailingHeaders);
        if (trailerStatus is { Code: not 0 } failed)
        {
            throw new GrpcCallException(failed.Code, failed.Message);
        }

        return reply ?? throw new GrpcCallException(13, "the inventory service sent no message");
    }

    private static (int Code, string? Message)? Status(HttpHeaders headers)
    {
        if (!headers.TryGetValues("grpc-status", out var values))
        {
            return null;
        }

        int code = int.TryParse(values.FirstOrDefault(), out int c) ? c : 2;
        string? message = headers.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.FirstOrDefault() ?? string.Empty) : null;
        return (code, message);
    }
}

/// <summary>Serves one unary gRPC method from a minimal API endpoint.</summary>
public static class GrpcServer
{
    public static async Task UnaryAsync<TRequest, TReply>(HttpContext context, MessageParser<TRequest> parser, Func<TRequest, CancellationToken, Task<TReply>> handler)
        where TRequest : IMessage<TRequest>
        where TReply : IMessage<TReply>
    {
        context.Response.ContentType = GrpcWire.ContentType;
        try
        {
            var request = await GrpcWire.ReadAsync(context.Request.Body, parser, context.RequestAborted)
                ?? throw new InvalidDataException("no request message");
            var reply = await handler(request, context.RequestAborted);
            await context.Response.Body.WriteAsync(GrpcWire.Frame(reply), context.RequestAborted);
            context.Response.AppendTrailer("grpc-status", "0");
        }
        catch (KeyNotFoundException ex)
        {
            context.Response.AppendTrailer("grpc-status", "5");
            context.Response.AppendTrailer("grpc-message", Uri.EscapeDataString(ex.Message));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            context.Response.AppendTrailer("grpc-status", "13");
            context.Response.AppendTrailer("grpc-message", Uri.EscapeDataString(ex.Message));
        }
    }
}
