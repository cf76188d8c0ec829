using System.Reflection;
using System.Runtime.Loader;

namespace Governor.Core.Plugins;

/// <summary>
/// One plugin's AssemblyLoadContext. Resolution order:
/// 1. the contract assemblies (<see cref="SharedFromAgent"/>) come from the agent's context, so
///    every plugin shares one copy of the plugin API types;
/// 2. the plugin's private dependencies come from its own folder;
/// 3. everything else — the framework and the app's own copies of the libraries a plugin governs
///    (Npgsql, Microsoft.Data.Sqlite, ...) — comes from the default context, so that what a
///    plugin intercepts is the app's real types.
/// </summary>
internal sealed class PluginLoadContext : AssemblyLoadContext
{
    /// <summary>Assemblies every plugin resolves from the agent's context.</summary>
    public static readonly IReadOnlySet<string> SharedFromAgent = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Governor.Abstractions",
        "Governor.Patching",
    };

    private readonly string _directory;
    private readonly AssemblyLoadContext _agentContext;

    public PluginLoadContext(string name, string directory)
        : base($"Governor plugin {name}", isCollectible: false)
    {
        _directory = directory;
        _agentContext = GetLoadContext(typeof(PluginLoadContext).Assembly) ?? Default;
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        string? name = assemblyName.Name;
        if (name is null)
        {
            return null;
        }

        if (SharedFromAgent.Contains(name))
        {
            return _agentContext.LoadFromAssemblyName(assemblyName);
        }

        string path = Path.Combine(_directory, name + ".dll");
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        string path = Path.Combine(_directory, unmanagedDllName);
        return File.Exists(path) ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
    }
}
