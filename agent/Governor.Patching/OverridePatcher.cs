using System.Reflection;

namespace Governor.Patching;

/// <summary>
/// Patches a base method and every override of it, now and in assemblies loaded later. Only
/// assemblies that reference the base method's assembly are scanned.
/// </summary>
internal sealed class OverridePatcher : IPatchGroup
{
    private readonly object _lock = new();
    private readonly MethodInfo _baseMethod;
    private readonly Func<MethodBase, IDisposable> _patch;
    private readonly Action<PatchLogLevel, string> _log;
    private readonly Dictionary<MethodBase, IDisposable?> _handles = new();
    private readonly List<string> _failures = new();
    private readonly string _baseAssembly;
    private bool _disposed;

    public OverridePatcher(MethodInfo baseMethod, Func<MethodBase, IDisposable> patch, Action<PatchLogLevel, string> log)
    {
        _baseMethod = baseMethod;
        _patch = patch;
        _log = log;
        _baseAssembly = baseMethod.DeclaringType!.Assembly.GetName().Name!;
    }

    public IReadOnlyList<MethodBase> Patched
    {
        get
        {
            lock (_lock)
            {
                return _handles.Where(p => p.Value is not null).Select(p => p.Key).ToList();
            }
        }
    }

    public IReadOnlyList<string> Failures
    {
        get
        {
            lock (_lock)
            {
                return _failures.ToList();
            }
        }
    }

    public void Start()
    {
        AppDomain.CurrentDomain.AssemblyLoad += OnAssemblyLoad;
        if (!_baseMethod.IsAbstract)
        {
            TryPatch(_baseMethod);
        }

        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            Scan(assembly);
        }
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.AssemblyLoad -= OnAssemblyLoad;
        lock (_lock)
        {
            _disposed = true;
            foreach (var handle in _handles.Values)
            {
                handle?.Dispose();
            }

            _handles.Clear();
        }
    }

    private void OnAssemblyLoad(object? sender, AssemblyLoadEventArgs args) => Scan(args.LoadedAssembly);

    private void Scan(Assembly assembly)
    {
        if (assembly.IsDynamic || !References(assembly))
        {
            return;
        }

        Type?[] types;
        try
        {
            types = assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            types = e.Types;
        }

        var baseType = _baseMethod.DeclaringType!;
        foreach (var type in types)
        {
            if (type is null || type.ContainsGenericParameters || !type.IsSubclassOf(baseType))
            {
                continue;
            }

            foreach (var method in type.GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (!method.IsAbstract && method.IsVirtual && method.GetBaseDefinition() == _baseMethod)
                {
                    TryPatch(method);
                }
            }
        }
    }

    private bool References(Assembly assembly)
    {
        if (assembly.GetName().Name == _baseAssembly)
        {
            return true;
        }

        return assembly.GetReferencedAssemblies().Any(a => string.Equals(a.Name, _baseAssembly, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Patches outside this group's lock: patching compiles code, which can load assemblies on this thread.</summary>
    private void TryPatch(MethodBase method)
    {
        lock (_lock)
        {
            if (_disposed || !_handles.TryAdd(method, null))
            {
                return;
            }
        }

        IDisposable handle;
        try
        {
            handle = _patch(method);
        }
        catch (PatchException e)
        {
            lock (_lock)
            {
                _handles.Remove(method);
                _failures.Add(e.Message);
            }

            _log(PatchLogLevel.Warning, e.Message);
            return;
        }

        lock (_lock)
        {
            if (!_disposed)
            {
                _handles[method] = handle;
                return;
            }
        }

        handle.Dispose();
    }
}
