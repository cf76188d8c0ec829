using System.Buffers.Binary;
using Google.Protobuf;

/// <summary>
/// greet.Greeter over plain Kestrel HTTP/2, at the protocol level (no Grpc.AspNetCore here):
/// length-prefixed protobuf messages (1 byte compressed flag, 4 bytes big-endian length),
/// content-type application/grpc, and the status in the trailers. Messages are hand-written with
/// Google.Protobuf's coded streams: HelloRequest { string name = 1; }, HelloReply { string message = 1; }.
/// </summary>
internal static class Greeter
{
    public static async Task SayHello(HttpContext context)
    {
        string name = ReadName(await ReadMessage(context.Request.Body));
        byte[] reply = Frame(WriteMessage($"Hello {name}"));
        context.Response.ContentType = "application/grpc";
        await context.Response.Body.WriteAsync(reply);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    /// <summary>Answers with headers, no message, and grpc-status 5 (NOT_FOUND) in the trailers.</summary>
    public static async Task Fail(HttpContext context)
    {
        await ReadMessage(context.Request.Body);
        context.Response.ContentType = "application/grpc";
        await context.Response.StartAsync();
        context.Response.AppendTrailer("grpc-status", "5");
        context.Response.AppendTrailer("grpc-message", "no such greeting");
    }

    private static async Task<byte[]> ReadMessage(Stream body)
    {
        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer);
        byte[] all = buffer.ToArray();
        if (all.Length < 5)
        {
            return Array.Empty<byte>();
        }

        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(all.AsSpan(1, 4));
        return all.AsSpan(5, Math.Min(length, all.Length - 5)).ToArray();
    }

    private static string ReadName(byte[] message)
    {
        var input = new CodedInputStream(message);
        string name = string.Empty;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (tag == 10)
            {
                name = input.ReadString();
            }
            else
            {
                input.SkipLastField();
            }
        }

        return name;
    }

    private static byte[] WriteMessage(string text)
    {
        byte[] bytes = new byte[CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeStringSize(text)];
        var output = new CodedOutputStream(bytes);
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteString(text);
        output.Flush();
        return bytes;
    }

    private static byte[] Frame(byte[] message)
    {
        byte[] frame = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1, 4), (uint)message.Length);
        message.CopyTo(frame, 5);
        return frame;
    }
}
