namespace Governor.TestPlugins;

/// <summary>Parsing helpers for test plugin settings.</summary>
internal static class TestPluginText
{
    /// <summary>"name=value" as a pair (value empty when there is no '=').</summary>
    public static KeyValuePair<string, string> Pair(string item)
    {
        int eq = item.IndexOf('=', StringComparison.Ordinal);
        return eq < 0 ? new(item.Trim(), string.Empty) : new(item[..eq].Trim(), item[(eq + 1)..].Trim());
    }
}
