using System.Globalization;
using System.Text;

namespace Governor.Plugins.AspNetCore;

/// <summary>gRPC header names and encodings (see the gRPC over HTTP/2 protocol description).</summary>
internal static class GrpcText
{
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";

    // The 17 defined codes, so answering never formats a number.
    private static readonly string[] s_codes = Enumerable.Range(0, 17).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    public static string Status(int code) => (uint)code < (uint)s_codes.Length ? s_codes[code] : code.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Percent-encodes a grpc-message: every byte of its UTF-8 form outside 0x20-0x7E, and '%'
    /// itself. Returns the same string when nothing needs encoding (the common case).
    /// </summary>
    public static string EncodeMessage(string message)
    {
        int i = 0;
        while (i < message.Length && message[i] is >= ' ' and <= '~' and not '%')
        {
            i++;
        }

        if (i == message.Length)
        {
            return message;
        }

        var text = new StringBuilder(message.Length + 16);
        text.Append(message, 0, i);
        foreach (byte b in Encoding.UTF8.GetBytes(message.Substring(i)))
        {
            if (b is >= (byte)' ' and <= (byte)'~' and not (byte)'%')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
