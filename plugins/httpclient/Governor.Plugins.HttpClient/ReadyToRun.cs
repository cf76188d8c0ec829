namespace Governor.Plugins.HttpClient;

/// <summary>Reads <c>DOTNET_ReadyToRunExcludeList</c> as the runtime does (names separated by ';' or white space).</summary>
internal static class ReadyToRun
{
    public static bool IsExcluded(string assembly)
    {
        string? value = Environment.GetEnvironmentVariable("DOTNET_ReadyToRunExcludeList");
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        foreach (string name in value.Split(new[] { ';', ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries))
        {
            if (string.Equals(name, assembly, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
