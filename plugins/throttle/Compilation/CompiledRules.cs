using Governor.Interception;
using Governor.Plugins.Throttle.Resources;

namespace Governor.Plugins.Throttle.Compilation;

/// <summary>
/// Everything the handlers need, built off the request path on each rule change and published
/// with one volatile write. Lookups search spans (no string is built per request) and end in
/// small arrays scanned by reference-fast comparisons.
/// </summary>
internal sealed class CompiledRules
{
    public static readonly CompiledRules Empty = new(
        ResourceTable<PathEntry>.Empty,
        ResourceTable<PathEntry>.Empty,
        ResourceTable<HostEntry>.Empty,
        Array.Empty<Binding>(),
        new Dictionary<string, object>(),
        new Dictionary<string, ResourceStats>());

    public CompiledRules(ResourceTable<PathEntry> paths, ResourceTable<PathEntry> routes, ResourceTable<HostEntry> hosts, IReadOnlyList<Binding> bindings, IReadOnlyDictionary<string, object> limiters, IReadOnlyDictionary<string, ResourceStats> stats)
    {
        Paths = paths;
        Routes = routes;
        Hosts = hosts;
        Bindings = bindings;
        Limiters = limiters;
        Stats = stats;
        HasPaths = paths.Count != 0;
        HasRoutes = routes.Count != 0;
        HasOutbound = hosts.Count != 0;
    }

    /// <summary>Inbound paths and gRPC methods, keyed by the normalized path.</summary>
    public ResourceTable<PathEntry> Paths { get; }

    /// <summary>Inbound route templates, keyed by the normalized template.</summary>
    public ResourceTable<PathEntry> Routes { get; }

    /// <summary>Outbound hosts.</summary>
    public ResourceTable<HostEntry> Hosts { get; }

    /// <summary>Inbound path or gRPC method names exist (checked before routing).</summary>
    public bool HasPaths { get; }

    /// <summary>Inbound route template names exist (checked once routing matched an endpoint).</summary>
    public bool HasRoutes { get; }

    public bool HasOutbound { get; }

    public IReadOnlyList<Binding> Bindings { get; }

    /// <summary>Limiter state by binding key (resource identity, kind, strategy name), for the next reload to keep.</summary>
    public IReadOnlyDictionary<string, object> Limiters { get; }

    /// <summary>Counters by resource identity, for the next reload to keep.</summary>
    public IReadOnlyDictionary<string, ResourceStats> Stats { get; }

    /// <summary>The path (or gRPC method) names a request matches: known before routing.</summary>
    public Match MatchPath(InboundCall call) => Match(Paths.Find(ResourceName.NormalizePath(call.Path)), call);

    /// <summary>The route template names a request matches, once routing matched <paramref name="template"/>.</summary>
    public Match MatchRoute(InboundCall call, string template) => Match(Routes.Find(ResourceName.NormalizeRoute(template)), call);

    private static Match Match(PathEntry? entry, InboundCall call)
    {
        var match = default(Match);
        if (entry is not null)
        {
            match.Add(entry.Any);
            if (entry.ByMethod.Length != 0)
            {
                match.Add(entry.ForMethod(call.Method));
            }
        }

        return match;
    }

    public Match MatchOutbound(Uri uri)
    {
        var match = default(Match);
        var host = Hosts.Find(uri.Host);
        if (host is null)
        {
            return match;
        }

        int port = uri.Port;
        match.Add(host.Any);
        match.Add(host.ForPort(port));
        if (host.Paths.Count != 0)
        {
            var path = host.Paths.Find(ResourceName.NormalizePath(uri.AbsolutePath));
            if (path is not null)
            {
                match.Add(path.Any);
                match.Add(path.ForPort(port));
            }
        }

        return match;
    }
}

/// <summary>The bindings of one inbound path or template: any method, and per method.</summary>
internal sealed class PathEntry
{
    public PathEntry(Binding? any, KeyValuePair<string, Binding>[] byMethod)
    {
        Any = any;
        ByMethod = byMethod;
    }

    public Binding? Any { get; }

    public KeyValuePair<string, Binding>[] ByMethod { get; }

    public Binding? ForMethod(string method)
    {
        foreach (var entry in ByMethod)
        {
            // ASP.NET Core hands out its interned method constants, so this is usually a reference match.
            if (string.Equals(entry.Key, method, StringComparison.OrdinalIgnoreCase))
            {
                return entry.Value;
            }
        }

        return null;
    }
}

/// <summary>The bindings of one outbound host (or host and path): any port, and per port.</summary>
internal sealed class HostEntry
{
    public HostEntry(Binding? any, KeyValuePair<int, Binding>[] byPort, ResourceTable<HostEntry> paths)
    {
        Any = any;
        ByPort = byPort;
        Paths = paths;
    }

    public Binding? Any { get; }

    public KeyValuePair<int, Binding>[] ByPort { get; }

    /// <summary>Host-and-path names under this host; empty at the path level.</summary>
    public ResourceTable<HostEntry> Paths { get; }

    public Binding? ForPort(int port)
    {
        foreach (var entry in ByPort)
        {
            if (entry.Key == port)
            {
                return entry.Value;
            }
        }

        return null;
    }
}
