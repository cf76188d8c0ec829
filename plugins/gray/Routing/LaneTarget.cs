using Governor.Plugins.Gray.Rules;
using Governor.Plugins.Gray.Status;

namespace Governor.Plugins.Gray.Routing;

/// <summary>
/// One place a labeled call can be sent to: an instance address from a VirtualWorkloads rule, or
/// the Service of a lane found by DNS. Remembers when it refused a connection, so that the calls
/// after that go to the next instance (or to base) without paying the refusal again.
/// </summary>
internal sealed class LaneTarget
{
    private readonly string? _fixedAuthority;
    private long _ejectedUntil; // Environment.TickCount64; 0 = healthy (no clock read on the healthy path)

    public LaneTarget(string service, string label, Endpoint endpoint)
    {
        Service = service;
        Label = label;
        Endpoint = endpoint;
        _fixedAuthority = endpoint.Port < 0 ? null : endpoint.ToString();
    }

    public string Service { get; }

    public string Label { get; }

    public Endpoint Endpoint { get; }

    /// <summary>The authority to send to: the target's own port, else the call's.</summary>
    public string Authority(Uri call) => _fixedAuthority ?? (call.IsDefaultPort ? Endpoint.AuthorityHost : $"{Endpoint.AuthorityHost}:{call.Port}");

    /// <summary>True while ejected; an ejection that ran out is cleared by the first caller that sees it.</summary>
    public bool IsEjected
    {
        get
        {
            long until = Volatile.Read(ref _ejectedUntil);
            if (until == 0)
            {
                return false;
            }

            if (Environment.TickCount64 < until)
            {
                return true;
            }

            Interlocked.CompareExchange(ref _ejectedUntil, 0, until);
            return false;
        }
    }

    public void Eject(TimeSpan duration)
    {
        if (duration > TimeSpan.Zero)
        {
            Volatile.Write(ref _ejectedUntil, Math.Max(1, Environment.TickCount64 + (long)duration.TotalMilliseconds));
        }
    }

    public override string ToString() => Endpoint.ToString();
}

/// <summary>The instances of one lane of one service, with their load balancing.</summary>
internal sealed class Lane
{
    private readonly LaneTarget[] _targets;
    private readonly bool _random;
    private int _next = -1;

    public Lane(string service, string? label, IEnumerable<Endpoint> endpoints, bool random, RouteStats? stats)
    {
        Label = label;
        _targets = endpoints.Select(e => new LaneTarget(service, label ?? "base", e)).ToArray();
        _random = random;
        Stats = stats;
    }

    /// <summary>Null for the base lane.</summary>
    public string? Label { get; }

    public IReadOnlyList<LaneTarget> Targets => _targets;

    /// <summary>The counters of (service, label), found once; null for the base lane.</summary>
    public RouteStats? Stats { get; }

    /// <summary>The next instance that is not ejected (round robin or random), or null when all are.</summary>
    public LaneTarget? Pick()
    {
        var targets = _targets;
        int n = targets.Length;
        if (n == 0)
        {
            return null;
        }

        int start = n == 1 ? 0 : _random ? Random.Shared.Next(n) : (int)((uint)Interlocked.Increment(ref _next) % (uint)n);
        for (int i = 0; i < n; i++)
        {
            var target = targets[(start + i) % n];
            if (!target.IsEjected)
            {
                return target;
            }
        }

        return null;
    }
}
