using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Governor.Plugins.Gray.Labeling;
using Governor.Plugins.Gray.Rules;

namespace Governor.Plugins.Gray.Routing;

/// <summary>
/// The Kubernetes convention of one Service per lane: a call to <c>orders</c> (or
/// <c>orders.shop.svc.cluster.local</c>) with label <c>gray</c> goes to <c>orders-gray</c> (name
/// template configurable) when that name resolves. The call path never waits for DNS: it reads
/// the cached answer (unknown counts as "no lane", so the call goes to base) and, when the answer
/// is missing or old, queues one lookup in the background. Answers are cached for a TTL
/// (positive) or a shorter one (negative: the name does not exist); an old answer keeps being
/// used while it is refreshed.
/// </summary>
internal sealed class DnsLanes : IDisposable
{
    /// <summary>Hosts remembered at most (every distinct cluster host a labeled call went to).</summary>
    internal const int MaxHosts = 1024;

    private readonly ConcurrentDictionary<string, HostLanes> _hosts = new(StringComparer.OrdinalIgnoreCase);
    private readonly Func<string, CancellationToken, Task<bool>> _resolve;
    private readonly string _template;
    private readonly long _ttlMs;
    private readonly long _negativeTtlMs;
    private readonly TimeSpan _timeout;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Action<string, Exception?> _report;
    private long _lookups;

    /// <param name="resolve">Whether a name exists (a seam for tests); defaults to the system resolver.</param>
    public DnsLanes(string template, TimeSpan ttl, TimeSpan negativeTtl, TimeSpan timeout, Action<string, Exception?> report, Func<string, CancellationToken, Task<bool>>? resolve = null)
    {
        _template = template;
        _ttlMs = (long)ttl.TotalMilliseconds;
        _negativeTtlMs = (long)negativeTtl.TotalMilliseconds;
        _timeout = timeout;
        _report = report;
        _resolve = resolve ?? ResolveWithSystemAsync;
    }

    /// <summary>Lookups started so far (for tests and status).</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    /// <summary>
    /// True for hosts the convention applies to: a DNS name (not an IP address) that is a single
    /// label ("orders") or a Kubernetes Service name ("orders.shop", "orders.shop.svc...").
    /// Public names such as api.example.com are left alone (and never looked up).
    /// </summary>
    public static bool AppliesTo(Uri uri)
    {
        if (uri.HostNameType != UriHostNameType.Dns)
        {
            return false;
        }

        string host = uri.IdnHost;
        int dot = host.IndexOf('.');
        return dot < 0 ? !host.Equals("localhost", StringComparison.OrdinalIgnoreCase) : ServiceDirectory.IsClusterName(host.AsSpan(dot));
    }

    /// <summary>
    /// The lane Service for (host, label) when DNS said it exists, else null. Never blocks;
    /// queues a background lookup when the answer is unknown or old.
    /// </summary>
    public LaneTarget? Find(string host, string label)
    {
        if (!_hosts.TryGetValue(host, out var lanes))
        {
            if (_hosts.Count >= MaxHosts)
            {
                return null;
            }

            lanes = _hosts.GetOrAdd(host, static h => new HostLanes(h));
        }

        var lane = lanes.Get(label, this);
        if (lane is null)
        {
            return null;
        }

        int state = lane.State;
        if (state == DnsLane.Unknown || Environment.TickCount64 >= lane.ExpiresAt)
        {
            Refresh(lane);
        }

        return state == DnsLane.Exists ? lane.Target : null;
    }

    /// <summary>The lane Service's host for a service host and a label, e.g. orders.shop.svc + gray → orders-gray.shop.svc.</summary>
    internal string? LaneHost(string host, string label)
    {
        if (!LabelText.IsDnsSafe(label))
        {
            return null;
        }

        int dot = host.IndexOf('.');
        string first = dot < 0 ? host : host[..dot];
        string rest = dot < 0 ? string.Empty : host[dot..];
        string name = _template.Replace("{service}", first, StringComparison.Ordinal).Replace("{label}", label.ToLowerInvariant(), StringComparison.Ordinal);
        return name.Length > LabelText.MaxLength ? null : name + rest;
    }

    public void Dispose() => _stopping.Cancel();

    private void Refresh(DnsLane lane)
    {
        if (Interlocked.CompareExchange(ref lane.Resolving, 1, 0) != 0)
        {
            return;
        }

        Interlocked.Increment(ref _lookups);
        // Unsafe: the lookup must not carry the request's ExecutionContext (its label) along.
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Self.ResolveAsync(state.Lane), (Self: this, Lane: lane), preferLocal: false);
    }

    private async Task ResolveAsync(DnsLane lane)
    {
        bool exists = false;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_timeout);
            exists = await _resolve(lane.Target.Endpoint.Host, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData })
        {
            exists = false;
        }
        catch (Exception ex)
        {
            // Timeouts and resolver failures count as "no lane" for the negative TTL: base is always safe.
            _report(lane.Target.Endpoint.Host, ex);
        }
        finally
        {
            lane.Set(exists ? DnsLane.Exists : DnsLane.Missing, Environment.TickCount64 + (exists ? _ttlMs : _negativeTtlMs));
            Volatile.Write(ref lane.Resolving, 0);
        }
    }

    private static async Task<bool> ResolveWithSystemAsync(string host, CancellationToken cancellationToken)
    {
        var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        return addresses.Length > 0;
    }

    /// <summary>The lanes seen so far for one host; copy-on-write, so readers never lock.</summary>
    private sealed class HostLanes
    {
        private readonly string _host;
        private DnsLane[] _lanes = Array.Empty<DnsLane>();

        public HostLanes(string host) => _host = host;

        public DnsLane? Get(string label, DnsLanes owner)
        {
            var lanes = Volatile.Read(ref _lanes);
            foreach (var lane in lanes)
            {
                if (string.Equals(lane.Label, label, StringComparison.OrdinalIgnoreCase))
                {
                    return lane;
                }
            }

            string? laneHost = owner.LaneHost(_host, label);
            if (laneHost is null || lanes.Length >= 64)
            {
                return null;
            }

            var created = new DnsLane(label, new LaneTarget(_host, label, new Endpoint(laneHost, laneHost, -1)));
            while (true)
            {
                var current = Volatile.Read(ref _lanes);
                foreach (var lane in current)
                {
                    if (string.Equals(lane.Label, label, StringComparison.OrdinalIgnoreCase))
                    {
                        return lane;
                    }
                }

                var next = new DnsLane[current.Length + 1];
                current.CopyTo(next, 0);
                next[^1] = created;
                if (Interlocked.CompareExchange(ref _lanes, next, current) == current)
                {
                    return created;
                }
            }
        }
    }

    /// <summary>The cached DNS answer for one lane Service.</summary>
    internal sealed class DnsLane
    {
        public const int Unknown = 0;
        public const int Exists = 1;
        public const int Missing = 2;

        private int _state;
        private long _expiresAt;

        public DnsLane(string label, LaneTarget target)
        {
            Label = label;
            Target = target;
        }

        public string Label { get; }

        public LaneTarget Target { get; }

        public int State => Volatile.Read(ref _state);

        public long ExpiresAt => Volatile.Read(ref _expiresAt);

        /// <summary>1 while a lookup is queued or running (a field, for Interlocked).</summary>
        public int Resolving;

        public void Set(int state, long expiresAt)
        {
            Volatile.Write(ref _expiresAt, expiresAt);
            Volatile.Write(ref _state, state);
        }
    }
}
