using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;

namespace Governor.Plugins.Gray.Routing;

/// <summary>One service declared by a VirtualWorkloads rule: its base lane and its labeled lanes.</summary>
internal sealed class ServiceEntry
{
    private readonly Lane[] _lanes;

    public ServiceEntry(string name, Lane? baseLane, Lane[] lanes)
    {
        Name = name;
        Base = baseLane;
        _lanes = lanes;
    }

    public string Name { get; }

    /// <summary>The declared base instances, or null (then base is wherever the app sends the call).</summary>
    public Lane? Base { get; }

    public IReadOnlyList<Lane> Lanes => _lanes;

    public Lane? Find(string label)
    {
        foreach (var lane in _lanes)
        {
            if (string.Equals(lane.Label, label, StringComparison.OrdinalIgnoreCase))
            {
                return lane;
            }
        }

        return null;
    }
}

/// <summary>
/// Where calls go, from the VirtualWorkloads rules: which service a destination belongs to (by a
/// declared address, or by a host named like the service) and which lane that address is in.
/// Immutable; rebuilt on every rule change. Lookups allocate nothing: by port first (an int),
/// then by host (<see cref="Uri.IdnHost"/>, which the Uri computes once and caches).
/// </summary>
internal sealed class ServiceDirectory
{
    public static readonly ServiceDirectory Empty = new(Array.Empty<ServiceEntry>());

    private readonly Dictionary<int, Address[]> _byPort = new();
    private readonly Address[] _anyPort;
    private readonly ServiceEntry[] _services;
    private readonly HashSet<int> _lanePorts = new();
    private readonly bool _laneAnyPort;

    private ServiceDirectory(ServiceEntry[] services)
    {
        _services = services;
        var anyPort = new List<Address>();
        var byPort = new Dictionary<int, List<Address>>();
        foreach (var service in services)
        {
            foreach (var lane in service.Base is null ? service.Lanes : service.Lanes.Prepend(service.Base))
            {
                foreach (var target in lane.Targets)
                {
                    var address = new Address(target.Endpoint.Host, service, lane);
                    if (target.Endpoint.Port < 0)
                    {
                        anyPort.Add(address);
                        _laneAnyPort |= lane.Label is not null;
                    }
                    else
                    {
                        if (!byPort.TryGetValue(target.Endpoint.Port, out var list))
                        {
                            byPort[target.Endpoint.Port] = list = new List<Address>();
                        }

                        list.Add(address);
                        if (lane.Label is not null)
                        {
                            _lanePorts.Add(target.Endpoint.Port);
                        }
                    }
                }
            }
        }

        _anyPort = anyPort.ToArray();
        foreach (var (port, list) in byPort)
        {
            _byPort[port] = list.ToArray();
        }
    }

    public IReadOnlyList<ServiceEntry> Services => _services;

    public bool IsEmpty => _services.Length == 0;

    /// <summary>
    /// Builds the directory. A service declared twice, or an address claimed by two services, keeps
    /// the first declaration (rules sorted by file and position); <paramref name="warn"/> hears about the rest.
    /// </summary>
    public static ServiceDirectory Build(IEnumerable<(string File, int Index, string Name, VirtualWorkloadsSpec Spec)> rules, GrayStats stats, Action<string> warn)
    {
        var services = new List<ServiceEntry>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var addresses = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (file, index, name, spec) in rules.OrderBy(r => r.File, StringComparer.Ordinal).ThenBy(r => r.Index))
        {
            if (!seen.Add(spec.Service))
            {
                warn($"VirtualWorkloads '{name}' ({Path.GetFileName(file)}) declares service '{spec.Service}' again; the first declaration is used");
                continue;
            }

            Lane? baseLane = null;
            var lanes = new List<Lane>();
            foreach (var workload in spec.Workloads)
            {
                var endpoints = new List<Endpoint>();
                foreach (var endpoint in workload.Targets)
                {
                    string key = endpoint.ToString();
                    if (addresses.TryGetValue(key, out string? owner))
                    {
                        warn($"VirtualWorkloads '{name}': address {key} of service '{spec.Service}' already belongs to '{owner}'; ignored here");
                        continue;
                    }

                    addresses[key] = $"{spec.Service}/{workload.Label ?? "base"}";
                    endpoints.Add(endpoint);
                }

                var lane = new Lane(spec.Service, workload.Label, endpoints, workload.Random, workload.Label is null ? null : stats.Route(spec.Service, workload.Label));
                if (workload.Label is null)
                {
                    baseLane = lane;
                }
                else
                {
                    lanes.Add(lane);
                }
            }

            services.Add(new ServiceEntry(spec.Service, baseLane, lanes.ToArray()));
        }

        return services.Count == 0 ? Empty : new ServiceDirectory(services.ToArray());
    }

    /// <summary>
    /// Cheap test for unlabeled calls: true when the destination may be an instance of a labeled
    /// lane (so unlabeled traffic must be steered away from it). Reads only the port unless
    /// port-less lane addresses are declared.
    /// </summary>
    public bool MayBeLaneAddress(Uri uri) => _laneAnyPort || (_lanePorts.Count != 0 && _lanePorts.Contains(uri.Port));

    /// <summary>
    /// The service <paramref name="uri"/> belongs to, or null. <paramref name="at"/> is the lane of
    /// the declared address it matched, or null when it matched by the service's name.
    /// </summary>
    public ServiceEntry? Find(Uri uri, out Lane? at)
    {
        at = null;
        if (_services.Length == 0)
        {
            return null;
        }

        string host = uri.IdnHost;
        if (_byPort.TryGetValue(uri.Port, out var addresses) && Match(addresses, host) is { } exact)
        {
            at = exact.Lane;
            return exact.Service;
        }

        if (_anyPort.Length != 0 && Match(_anyPort, host) is { } any)
        {
            at = any.Lane;
            return any.Service;
        }

        // By name: "orders", or the cluster names of a Service called orders ("orders.shop.svc.cluster.local").
        int dot = host.IndexOf('.');
        var first = dot < 0 ? host.AsSpan() : host.AsSpan(0, dot);
        if (dot >= 0 && !IsClusterName(host.AsSpan(dot)))
        {
            return null;
        }

        foreach (var service in _services)
        {
            if (first.Equals(service.Name, StringComparison.OrdinalIgnoreCase))
            {
                return service;
            }
        }

        return null;
    }

    /// <summary>".shop.svc", ".shop.svc.cluster.local", ...: the suffixes of a Kubernetes Service's DNS names.</summary>
    internal static bool IsClusterName(ReadOnlySpan<char> suffix) =>
        suffix.EndsWith(".svc", StringComparison.OrdinalIgnoreCase) || suffix.Contains(".svc.", StringComparison.OrdinalIgnoreCase);

    private static Address? Match(Address[] addresses, string host)
    {
        foreach (var address in addresses)
        {
            if (string.Equals(address.Host, host, StringComparison.OrdinalIgnoreCase))
            {
                return address;
            }
        }

        return null;
    }

    private sealed record Address(string Host, ServiceEntry Service, Lane Lane);
}
