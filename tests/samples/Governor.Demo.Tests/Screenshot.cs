using System.Buffers.Binary;
using System.IO.Compression;
using Governor.Testing;
using Xunit;

namespace Governor.Demo.Tests;

/// <summary>
/// Opens the report in headless Chromium (when the machine has it) and reads the screenshot's
/// pixels: what a person opening the file would see.
/// </summary>
internal static class Screenshot
{
    public static string? Chromium() => new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    /// <summary>Renders <paramref name="html"/> as a file:// page and returns the screenshot's RGB pixels.</summary>
    public static (int Width, int Height, byte[] Rgb) Take(string chromium, string html, string png, int width, int height)
    {
        using var browser = AppProcess.Start(chromium, $"--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size={width},{height} --screenshot=\"{png}\" \"file://{html}\"");
        if (!browser.WaitForExit(TimeSpan.FromSeconds(120)) || !File.Exists(png))
        {
            throw new InvalidOperationException($"chromium wrote no screenshot. Its output:\n{browser.Output}");
        }

        return DecodePng(File.ReadAllBytes(png));
    }

    /// <summary>Counts the pixels within a small distance of <paramref name="hex"/> (#rrggbb).</summary>
    public static int Count((int Width, int Height, byte[] Rgb) image, string hex)
    {
        int r = Convert.ToInt32(hex[1..3], 16);
        int g = Convert.ToInt32(hex[3..5], 16);
        int b = Convert.ToInt32(hex[5..7], 16);
        int count = 0;
        for (int i = 0; i + 2 < image.Rgb.Length; i += 3)
        {
            if (Math.Abs(image.Rgb[i] - r) + Math.Abs(image.Rgb[i + 1] - g) + Math.Abs(image.Rgb[i + 2] - b) <= 12)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>8-bit RGB or RGBA, not interlaced: what Chromium writes.</summary>
    private static (int Width, int Height, byte[] Rgb) DecodePng(byte[] file)
    {
        int width = 0;
        int height = 0;
        int channels = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at < file.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(file, at + 4, 4);
            var data = file.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.True(data[8] == 8 && data[12] == 0, "the screenshot is not an 8-bit, non-interlaced PNG");
                channels = data[9] switch
                {
                    2 => 3,
                    6 => 4,
                    _ => throw new InvalidOperationException($"PNG color type {data[9]} is not RGB or RGBA"),
                };
            }
            else if (type == "IDAT")
            {
                idat.Write(data);
            }

            at += 12 + length;
        }

        idat.Position = 0;
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionMode.Decompress))
        {
            z.CopyTo(raw);
        }

        byte[] bytes = raw.ToArray();
        int stride = width * channels;
        var previous = new byte[stride];
        var current = new byte[stride];
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            int filter = bytes[y * (stride + 1)];
            Array.Copy(bytes, (y * (stride + 1)) + 1, current, 0, stride);
            for (int x = 0; x < stride; x++)
            {
                int a = x >= channels ? current[x - channels] : 0;
                int b = previous[x];
                int c = x >= channels ? previous[x - channels] : 0;
                current[x] = (byte)(current[x] + filter switch
                {
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => 0,
                });
            }

            for (int x = 0; x < width; x++)
            {
                Array.Copy(current, x * channels, rgb, ((y * width) + x) * 3, 3);
            }

            (previous, current) = (current, previous);
        }

        return (width, height, rgb);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a);
        int pb = Math.Abs(p - b);
        int pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
