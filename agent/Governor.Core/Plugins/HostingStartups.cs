using System.Reflection;
using System.Runtime.Loader;

namespace Governor.Core.Plugins;

/// <summary>
/// ASP.NET Core hosting startups that enabled plugins ship (manifest field
/// <c>hostingStartupAssembly</c>). ASP.NET Core reads <c>ASPNETCORE_HOSTINGSTARTUPASSEMBLIES</c>
/// when the app creates its web host builder, in the first lines of Main, so the agent appends the
/// assembly there before Main and resolves it from the plugin folder into the app's (default)
/// context, where ASP.NET Core loads it. The plugin itself may still be starting then: its
/// hosting startup waits for it (see <see cref="Agent.StartingKey"/>). Kept for the process
/// lifetime: a host built while the plugin is off finds nothing to attach and is left alone.
/// </summary>
internal sealed class HostingStartups
{
    public const string Variable = "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES";

    private readonly Dictionary<string, string> _paths = new(StringComparer.OrdinalIgnoreCase);
    private bool _resolving;

    public void Announce(IEnumerable<PluginRuntime> plugins, IGovernorLogger log)
    {
        foreach (var plugin in plugins)
        {
            string? name = plugin.Manifest?.HostingStartupAssembly;
            if (name is null)
            {
                continue;
            }

            string? path = Locate(plugin.Directory, name + ".dll");
            if (path is null)
            {
                log.Warn("Plugin {Plugin} names hosting startup assembly {Assembly}, which is not in {Directory}; web hosts are built without it. Reinstall the plugin.", plugin.Name, name, plugin.Directory);
                continue;
            }

            _paths[name] = path;
            Environment.SetEnvironmentVariable(Variable, AppendAssembly(Environment.GetEnvironmentVariable(Variable), name));
        }

        if (_paths.Count > 0 && !_resolving)
        {
            _resolving = true;
            AssemblyLoadContext.Default.Resolving += Resolve;
        }
    }

    /// <summary>Appends <paramref name="assembly"/> to a ';'-separated list unless it is already there.</summary>
    internal static string AppendAssembly(string? existing, string assembly)
    {
        if (string.IsNullOrWhiteSpace(existing))
        {
            return assembly;
        }

        foreach (string part in existing.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (string.Equals(part, assembly, StringComparison.OrdinalIgnoreCase))
            {
                return existing;
            }
        }

        return existing.TrimEnd().TrimEnd(';') + ";" + assembly;
    }

    // The ReadyToRun image for this runtime when there is one (as plugin load contexts do).
    private static string? Locate(string directory, string fileName)
    {
        string readyToRun = Path.Combine(directory, $"net{Environment.Version.Major}.0", fileName);
        if (File.Exists(readyToRun))
        {
            return readyToRun;
        }

        string path = Path.Combine(directory, fileName);
        return File.Exists(path) ? path : null;
    }

    private Assembly? Resolve(AssemblyLoadContext context, AssemblyName name) =>
        name.Name is { } simple && _paths.TryGetValue(simple, out string? path) ? context.LoadFromAssemblyPath(path) : null;
}
