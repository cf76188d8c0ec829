using System.Text.Json;

namespace Governor.Testing;

/// <summary>Reads a JSON-lines file that another process may still be appending to (test plugins' records).</summary>
public static class JsonLines
{
    /// <summary>Every complete line as a JSON element (a line still being written is skipped); empty when the file does not exist.</summary>
    public static List<JsonElement> Read(string path)
    {
        var list = new List<JsonElement>();
        if (!File.Exists(path))
        {
            return list;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (line.EndsWith('}'))
            {
                using var doc = JsonDocument.Parse(line);
                list.Add(doc.RootElement.Clone());
            }
        }

        return list;
    }
}
