using System.Data;
using System.Data.Common;
using System.Reflection;
using System.Reflection.Metadata;
using System.Runtime.CompilerServices;
using Governor.Patching;

namespace Governor.Plugins.AdoNet;

/// <summary>
/// Finds the ADO.NET providers' command and data reader types in every assembly loaded now or
/// later (at <see cref="AppDomain.AssemblyLoad"/>, before the provider's code runs) and detours
/// their execute and read methods:
/// <list type="bullet">
/// <item>overrides of <c>DbCommand.ExecuteDbDataReader</c>, <c>ExecuteNonQuery</c>,
/// <c>ExecuteScalar</c> and their Async variants (what DbCommand's public methods, Dapper and EF
/// Core call);</item>
/// <item>the provider's own typed <c>ExecuteReader</c>/<c>ExecuteReaderAsync</c> overloads
/// returning its reader type (<c>SqliteCommand.ExecuteReader()</c>, ...), which do not go through
/// DbCommand;</item>
/// <item>overrides of <c>DbDataReader.Read</c>, <c>NextResult</c>, their Async variants,
/// <c>Close</c>, <c>Dispose(bool)</c>, <c>CloseAsync</c>, <c>DisposeAsync</c>.</item>
/// </list>
/// System.Data.Common itself is never patched: its virtual methods are inherited by every
/// provider's types, and redirecting a compiled virtual method whose slot is inherited by a type
/// loaded afterwards crashes the runtime (measured with the current patch engine, see
/// docs/design.md (outbound interception)). For the same reason every type of a provider assembly is loaded
/// before its methods are detoured. Assemblies whose metadata define no subclass of a command or
/// reader type are skipped without loading their types.
/// </summary>
internal sealed class ProviderScanner : IDisposable
{
    private const BindingFlags Declared = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    [ThreadStatic]
    private static bool t_scanning;

    [ThreadStatic]
    private static Queue<Assembly>? t_queue;

    private readonly IPatchEngine _engine;
    private readonly string _owner;
    private readonly IGovernorLogger _log;
    private readonly object _gate = new();
    private readonly HashSet<Assembly> _seen = new();
    private readonly HashSet<string> _knownBases = new(StringComparer.Ordinal) { "System.Data.Common.DbCommand", "System.Data.Common.DbDataReader" };

    // Assemblies through which a type can reach a known base: System.Data.Common, the facades
    // that forward to it (a netstandard provider references netstandard), and the providers found.
    private readonly HashSet<string> _baseAssemblies = new(StringComparer.OrdinalIgnoreCase) { "System.Data.Common", "System.Data", "netstandard", "mscorlib" };
    private readonly List<IDisposable> _detours = new();
    private readonly List<string> _patched = new();
    private readonly List<string> _failures = new();
    private bool _disposed;

    public ProviderScanner(IPatchEngine engine, string owner, IGovernorLogger log)
    {
        _engine = engine;
        _owner = owner;
        _log = log;
    }

    /// <summary>"Microsoft.Data.Sqlite.SqliteCommand.ExecuteNonQuery", ... (for status and tests).</summary>
    public IReadOnlyList<string> Patched
    {
        get
        {
            lock (_gate)
            {
                return _patched.ToArray();
            }
        }
    }

    public IReadOnlyList<string> Failures
    {
        get
        {
            lock (_gate)
            {
                return _failures.ToArray();
            }
        }
    }

    /// <summary>Raised after an assembly's methods were detoured (for the status detail).</summary>
    public event Action? Changed;

    public void Start()
    {
        // Compiled before the first assembly event: compiling them loads assemblies, whose events
        // would otherwise re-enter the scanner while the JIT is compiling it (measured: a
        // TypeLoadException inside the JIT, which with the patch engine's JIT hook installed
        // aborts the process instead of surfacing as an exception). Only the methods every
        // assembly load runs: the others use System.Data.Common and System.Reflection.Metadata,
        // which an app without SQL never loads (about 2 MB), and are compiled the first time an
        // assembly referencing ADO.NET appears (see EnsurePrepared).
        Prepare(light: true);
        AppDomain.CurrentDomain.AssemblyLoad += OnAssemblyLoad;
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            ScanOrQueue(assembly);
        }
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.AssemblyLoad -= OnAssemblyLoad;
        IDisposable[] detours;
        lock (_gate)
        {
            _disposed = true;
            detours = _detours.ToArray();
            _detours.Clear();
        }

        foreach (var detour in detours)
        {
            detour.Dispose();
        }
    }

    private void OnAssemblyLoad(object? sender, AssemblyLoadEventArgs args) => ScanOrQueue(args.LoadedAssembly);

    /// <summary>
    /// Scans an assembly, unless this thread is already scanning (loading types and patching load
    /// assemblies): then it is queued and scanned when the outer scan ends, never re-entered.
    /// </summary>
    private void ScanOrQueue(Assembly assembly)
    {
        if (t_scanning)
        {
            (t_queue ??= new Queue<Assembly>()).Enqueue(assembly);
            return;
        }

        t_scanning = true;
        try
        {
            var next = assembly;
            while (true)
            {
                try
                {
                    Scan(next);
                }
                catch (Exception ex)
                {
                    // Never fail the app's assembly load.
                    _log.Error(ex, "Scanning {Assembly} for ADO.NET providers failed; its commands are not intercepted", next.FullName);
                }

                if (t_queue is not { Count: > 0 } queue)
                {
                    break;
                }

                next = queue.Dequeue();
            }
        }
        finally
        {
            t_scanning = false;
        }
    }

    private void Scan(Assembly assembly)
    {
        if (assembly.IsDynamic || assembly == typeof(ProviderScanner).Assembly || IsGovernors(assembly))
        {
            return;
        }

        lock (_gate)
        {
            if (_disposed || _seen.Contains(assembly))
            {
                return;
            }

            // System.Data.Common defines the bases only (and is never patched, see above).
            if (!ReferencesBaseAssembly(assembly) || assembly.GetName().Name == "System.Data.Common")
            {
                // Most loaded assemblies (the framework, ASP.NET Core) never reference System.Data.Common:
                // stop at the small assembly-reference table rather than walking every type definition
                // with System.Reflection.Metadata, which pages in their metadata (measured: adonet cost
                // ~6 MB of RSS in a web app with no SQL, most of it file-backed pages).
                _seen.Add(assembly);
                return;
            }
        }

        EnsurePrepared();
        ScanCandidate(assembly);
    }

    /// <summary>The agent's and the plugins' own assemblies (in their load contexts): never providers.</summary>
    private static bool IsGovernors(Assembly assembly) =>
        System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(assembly)?.Name is { } context
        && (context == "Governor" || context.StartsWith("Governor plugin ", StringComparison.Ordinal));

    /// <summary>The light methods: what every assembly load runs (see <see cref="Start"/>).</summary>
    private static readonly HashSet<string> s_light = new(StringComparer.Ordinal)
    {
        nameof(Start), nameof(OnAssemblyLoad), nameof(ScanOrQueue), nameof(Scan), nameof(IsGovernors), nameof(ReferencesBaseAssembly), nameof(EnsurePrepared), nameof(Prepare), nameof(Dispose),
    };

    private readonly object _prepareGate = new();
    private volatile bool _prepared;

    private static void Prepare(bool light)
    {
        foreach (var method in typeof(ProviderScanner).GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
        {
            if (!method.IsAbstract && !method.ContainsGenericParameters && s_light.Contains(method.Name) == light)
            {
                RuntimeHelpers.PrepareMethod(method.MethodHandle);
            }
        }
    }

    /// <summary>
    /// Compiles the rest of the scanner the first time an assembly referencing ADO.NET appears, on
    /// a thread of its own: this thread may be inside the JIT (an assembly load raised while it
    /// compiles the app's method), and the assemblies the compilation loads raise their events
    /// there, queued and handed back here.
    /// </summary>
    private void EnsurePrepared()
    {
        if (_prepared)
        {
            return;
        }

        lock (_prepareGate)
        {
            if (_prepared)
            {
                return;
            }

            Assembly[] loadedMeanwhile = Array.Empty<Assembly>();
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                t_scanning = true;
                try
                {
                    Prepare(light: false);
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
                finally
                {
                    loadedMeanwhile = t_queue?.ToArray() ?? Array.Empty<Assembly>();
                    t_queue?.Clear();
                    t_scanning = false;
                }
            })
            {
                IsBackground = true,
                Name = "Governor adonet prepare",
            };
            thread.Start();
            if (!thread.Join(TimeSpan.FromSeconds(10)))
            {
                _log.Warn("Preparing the ADO.NET scanner took more than 10 s; scanning goes on (its methods compile as they run)");
            }

            if (failure is not null)
            {
                _log.Warn(failure, "Preparing the ADO.NET scanner failed; scanning goes on (its methods compile as they run)");
            }

            _prepared = true;
            foreach (var assembly in loadedMeanwhile)
            {
                (t_queue ??= new Queue<Assembly>()).Enqueue(assembly);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ScanCandidate(Assembly assembly)
    {
        if (assembly == typeof(DbCommand).Assembly)
        {
            lock (_gate)
            {
                _seen.Add(assembly);
            }

            return;
        }

        lock (_gate)
        {
            if (_disposed || !_seen.Add(assembly))
            {
                return;
            }

            if (!DefinesDerivedTypes(assembly))
            {
                return;
            }
        }

        var targets = new List<(MethodInfo Method, Type Replacement, string Entry)>();
        foreach (var type in LoadTypes(assembly))
        {
            if (type is null || !type.IsClass || type.ContainsGenericParameters)
            {
                continue;
            }

            if (type.IsSubclassOf(typeof(DbCommand)))
            {
                Remember(type);
                CommandTargets(type, targets);
            }
            else if (type.IsSubclassOf(typeof(DbDataReader)))
            {
                Remember(type);
                ReaderTargets(type, targets);
            }
        }

        // Outside the lock: patching compiles code, which can load assemblies on this thread or wait
        // for the engine's lock that a thread loading an assembly holds.
        foreach (var (method, replacementType, entry) in targets)
        {
            Detour(method, replacementType, entry);
        }

        if (targets.Count > 0)
        {
            Changed?.Invoke();
        }
    }

    private void Remember(Type type)
    {
        lock (_gate)
        {
            _knownBases.Add(type.FullName!);
            if (type.Assembly.GetName().Name is { } name)
            {
                _baseAssemblies.Add(name);
            }
        }
    }

    private static Type?[] LoadTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types;
        }
    }

    /// <summary>
    /// Reads the assembly's metadata (no type is loaded): does a type derive from DbCommand,
    /// DbDataReader or a provider type found before, directly or through types of its own?
    /// </summary>
    private unsafe bool DefinesDerivedTypes(Assembly assembly)
    {
        if (!assembly.TryGetRawMetadata(out byte* blob, out int length))
        {
            return true;
        }

        var reader = new MetadataReader(blob, length);

        var derived = new HashSet<TypeDefinitionHandle>();
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (var handle in reader.TypeDefinitions)
            {
                if (derived.Contains(handle))
                {
                    continue;
                }

                var baseType = reader.GetTypeDefinition(handle).BaseType;
                bool match = baseType.Kind switch
                {
                    HandleKind.TypeReference => _knownBases.Contains(FullName(reader, (TypeReferenceHandle)baseType)),
                    HandleKind.TypeDefinition => derived.Contains((TypeDefinitionHandle)baseType),
                    _ => false,
                };
                if (match)
                {
                    derived.Add(handle);
                    grew = true;
                }
            }
        }

        return derived.Count > 0;
    }

    private bool ReferencesBaseAssembly(Assembly assembly)
    {
        if (assembly.GetName().Name is { } self && _baseAssemblies.Contains(self))
        {
            return true;
        }

        foreach (var reference in assembly.GetReferencedAssemblies())
        {
            if (reference.Name is { } name && _baseAssemblies.Contains(name))
            {
                return true;
            }
        }

        return false;
    }

    private static string FullName(MetadataReader reader, TypeReferenceHandle handle)
    {
        var reference = reader.GetTypeReference(handle);
        string name = reader.GetString(reference.Name);
        return reference.Namespace.IsNil ? name : reader.GetString(reference.Namespace) + "." + name;
    }

    private static void CommandTargets(Type type, List<(MethodInfo, Type, string)> targets)
    {
        foreach (var method in type.GetMethods(Declared))
        {
            if (method.IsAbstract || method.IsGenericMethodDefinition)
            {
                continue;
            }

            var parameters = Signature(method);
            var baseDefinition = method.GetBaseDefinition();
            if (baseDefinition.DeclaringType == typeof(DbCommand))
            {
                switch (method.Name, parameters)
                {
                    case ("ExecuteDbDataReader", "CommandBehavior"):
                        targets.Add((method, typeof(DbReaderDetour<>), "Run"));
                        break;
                    case ("ExecuteDbDataReaderAsync", "CommandBehavior,CancellationToken"):
                        targets.Add((method, typeof(DbReaderAsyncDetour<>), "Run"));
                        break;
                    case ("ExecuteNonQuery", ""):
                        targets.Add((method, typeof(NonQueryDetour<>), "Run"));
                        break;
                    case ("ExecuteNonQueryAsync", "CancellationToken"):
                        targets.Add((method, typeof(NonQueryAsyncDetour<>), "Run"));
                        break;
                    case ("ExecuteScalar", ""):
                        targets.Add((method, typeof(ScalarDetour<>), "Run"));
                        break;
                    case ("ExecuteScalarAsync", "CancellationToken"):
                        targets.Add((method, typeof(ScalarAsyncDetour<>), "Run"));
                        break;
                }

                continue;
            }

            if (!method.IsPublic || baseDefinition.DeclaringType != type && baseDefinition.DeclaringType?.IsSubclassOf(typeof(DbCommand)) != true)
            {
                continue;
            }

            // A provider's own typed reader methods (they hide DbCommand's non-virtual ones).
            if (method.Name == "ExecuteReader" && IsReader(method.ReturnType))
            {
                var shape = typeof(TypedReaderDetour<,>);
                switch (parameters)
                {
                    case "":
                        targets.Add((method, shape, nameof(TypedReaderDetour<SlotEnd, DbDataReader>.Run)));
                        break;
                    case "CommandBehavior":
                        targets.Add((method, shape, nameof(TypedReaderDetour<SlotEnd, DbDataReader>.RunWithBehavior)));
                        break;
                }
            }
            else if (method.Name == "ExecuteReaderAsync" && method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>)
                && IsReader(method.ReturnType.GetGenericArguments()[0]))
            {
                var shape = typeof(TypedReaderAsyncDetour<,>);
                string? entry = parameters switch
                {
                    "" => nameof(TypedReaderAsyncDetour<SlotEnd, DbDataReader>.Run),
                    "CancellationToken" => nameof(TypedReaderAsyncDetour<SlotEnd, DbDataReader>.RunWithToken),
                    "CommandBehavior" => nameof(TypedReaderAsyncDetour<SlotEnd, DbDataReader>.RunWithBehavior),
                    "CommandBehavior,CancellationToken" => nameof(TypedReaderAsyncDetour<SlotEnd, DbDataReader>.RunWithBehaviorAndToken),
                    _ => null,
                };
                if (entry is not null)
                {
                    targets.Add((method, shape, entry));
                }
            }
        }
    }

    private static void ReaderTargets(Type type, List<(MethodInfo, Type, string)> targets)
    {
        foreach (var method in type.GetMethods(Declared))
        {
            if (method.IsAbstract || method.GetBaseDefinition().DeclaringType != typeof(DbDataReader))
            {
                continue;
            }

            Type? shape = (method.Name, Signature(method)) switch
            {
                ("Read", "") or ("NextResult", "") => typeof(ReadDetour<>),
                ("ReadAsync", "CancellationToken") or ("NextResultAsync", "CancellationToken") => typeof(ReadAsyncDetour<>),
                ("Close", "") => typeof(CloseDetour<>),
                ("Dispose", "Boolean") => typeof(DisposeDetour<>),
                ("CloseAsync", "") => typeof(CloseAsyncDetour<>),
                ("DisposeAsync", "") => typeof(DisposeAsyncDetour<>),
                _ => null,
            };
            if (shape is not null)
            {
                targets.Add((method, shape, "Run"));
            }
        }
    }

    private static bool IsReader(Type type) => typeof(DbDataReader).IsAssignableFrom(type) && !type.ContainsGenericParameters;

    private static string Signature(MethodInfo method) => string.Join(",", method.GetParameters().Select(p => p.ParameterType.Name));

    private void Detour(MethodInfo method, Type shape, string entry)
    {
        string name = $"{method.DeclaringType!.FullName}.{method.Name}({Signature(method)})";
        try
        {
            var slot = Slots.Type(Slots.Next());
            var returned = method.ReturnType;
            var reader = returned.IsGenericType && returned.GetGenericTypeDefinition() == typeof(Task<>) ? returned.GetGenericArguments()[0] : returned;
            var replacementType = shape.GetGenericArguments().Length == 2 ? shape.MakeGenericType(slot, reader) : shape.MakeGenericType(slot);
            var replacement = replacementType.GetMethod(entry, BindingFlags.Public | BindingFlags.Static)!;
            var detour = _engine.Detour(method, replacement, _owner);
            replacementType.GetField("Original", BindingFlags.NonPublic | BindingFlags.Static)!.SetValue(null, detour.Original);
            lock (_gate)
            {
                if (_disposed)
                {
                    detour.Dispose();
                    return;
                }

                _detours.Add(detour);
                _patched.Add(name);
            }
        }
        catch (Exception ex) when (ex is PatchException or ArgumentException or InvalidOperationException)
        {
            lock (_gate)
            {
                _failures.Add($"{name}: {ex.Message}");
            }

            _log.Warn("Cannot intercept {Method}: {Reason}", name, ex.Message);
        }
    }
}
