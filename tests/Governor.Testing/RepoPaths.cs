namespace Governor.Testing;

/// <summary>Well-known paths of the repository and its build outputs.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    public static string Root => s_root.Value;

    /// <summary>The agent home built by <c>dotnet build</c>: artifacts/governor.</summary>
    public static string AgentHome => Path.Combine(Root, "artifacts", "governor");

    public static string StartupHook => Path.Combine(AgentHome, "Governor.StartupHook.dll");

    /// <summary>Where test plugins are built to (not part of the shipped home).</summary>
    public static string TestPlugins => Path.Combine(Root, "artifacts", "test-plugins");

    /// <summary>Cache of published test apps.</summary>
    public static string TestApps => Path.Combine(Root, "artifacts", "test-apps");

    public static string Combine(params string[] parts) => Path.Combine(new[] { Root }.Concat(parts).ToArray());

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Agent.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"Agent.sln not found above {AppContext.BaseDirectory}");
    }
}
