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
    private readonly string? _readyToRun;
    private readonly AssemblyLoadContext _agentContext;

    public PluginLoadContext(string name, string directory)
        : base($"Governor plugin {name}", isCollectible: false)
    {
        _directory = directory;
        // ReadyToRun images for this runtime (Release builds), used before the IL build.
        string candidate = Path.Combine(directory, $"net{Environment.Version.Major}.0");
        _readyToRun = Directory.Exists(candidate) ? candidate : null;
        _agentContext = GetLoadContext(typeof(PluginLoadContext).Assembly) ?? Default;
    }

    /// <summary>The file to load for an assembly of the plugin: its ReadyToRun image when there is one.</summary>
    public string? Resolve(string fileName)
    {
        if (_readyToRun is not null && File.Exists(Path.Combine(_readyToRun, fileName)))
        {
            return Path.Combine(_readyToRun, fileName);
        }

        string path = Path.Combine(_directory, fileName);
        return File.Exists(path) ? path : null;
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

        string? path = Resolve(name + ".dll");
        return path is null ? null : LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        string path = Path.Combine(_directory, unmanagedDllName);
        return File.Exists(path) ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
    }
}
