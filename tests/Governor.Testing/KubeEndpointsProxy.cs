using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Governor.Testing;

/// <summary>
/// A load balancer that behaves like a Kubernetes Service (kube-proxy over the endpoints):
/// <list type="bullet">
/// <item>L4: each new client connection goes to one backend of the pool (round robin) and stays
/// with it for its whole life, also after that backend left the pool (conntrack);</item>
/// <item>a backend joins the pool when its readiness passes and leaves it
/// <see cref="LeaveDelay"/> after its readiness starts failing (endpoint propagation);</item>
/// <item>a connection to a backend that does not accept is reset (what a client of a
/// Service sees when the pod behind it refuses).</item>
/// </list>
/// Readiness is probed every <see cref="ProbePeriod"/>, each backend on its own loop.
/// </summary>
public sealed class KubeEndpointsProxy : IAsyncDisposable
{
    private static readonly HttpClient s_probe = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromMilliseconds(500) };

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Backend> _backends = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<string> _events = new();
    private Backend[] _pool = Array.Empty<Backend>();
    private int _next;
    private long _connections;
    private long _resets;

    public KubeEndpointsProxy(TimeSpan leaveDelay, TimeSpan probePeriod)
    {
        LeaveDelay = leaveDelay;
        ProbePeriod = probePeriod;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(512);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptLoopAsync();
    }

    public TimeSpan LeaveDelay { get; }

    public TimeSpan ProbePeriod { get; }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Client connections reset because their backend did not accept.</summary>
    public long Resets => Interlocked.Read(ref _resets);

    public IReadOnlyList<string> Events
    {
        get
        {
            lock (_events)
            {
                return _events.ToArray();
            }
        }
    }

    public void Add(string name, int port, string readinessUrl)
    {
        var backend = new Backend(name, port, readinessUrl);
        lock (_backends)
        {
            _backends.Add(backend);
        }

        _ = ProbeLoopAsync(backend);
    }

    /// <summary>
    /// Adds a backend that is in the pool from the start and never probed: an instance that has
    /// stopped accepting but whose endpoint removal has not reached the load balancer yet.
    /// </summary>
    public void AddStale(string name, int port)
    {
        var backend = new Backend(name, port, string.Empty) { InPool = true };
        lock (_backends)
        {
            _backends.Add(backend);
            Publish();
        }
    }

    public void Remove(string name)
    {
        lock (_backends)
        {
            var backend = _backends.FirstOrDefault(b => b.Name == name);
            if (backend is not null)
            {
                backend.Removed = true;
                _backends.Remove(backend);
                Publish();
            }
        }
    }

    public bool InPool(string name) => Volatile.Read(ref _pool).Any(b => b.Name == name);

    public async Task WaitInPoolAsync(string name, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!InPool(name))
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{name} did not join the pool within {timeout}. Events:\n{string.Join('\n', Events)}");
            }

            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await Task.Delay(50);
    }

    private void Log(string text)
    {
        lock (_events)
        {
            _events.Add($"{_clock.Elapsed.TotalSeconds:0.000} {text}");
        }
    }

    private void Publish()
    {
        // Called under the _backends lock: the accept loop reads the array without locking.
        Volatile.Write(ref _pool, _backends.Where(b => b.InPool).ToArray());
    }

    private async Task ProbeLoopAsync(Backend backend)
    {
        while (!_stop.IsCancellationRequested && !backend.Removed)
        {
            bool ready;
            try
            {
                using var response = await s_probe.GetAsync(backend.ReadinessUrl, _stop.Token);
                ready = response.IsSuccessStatusCode;
            }
            catch (Exception)
            {
                ready = false;
            }

            lock (_backends)
            {
                if (backend.Removed)
                {
                    return;
                }

                if (ready)
                {
                    backend.FailingSince = null;
                    if (!backend.InPool)
                    {
                        backend.InPool = true;
                        Log($"{backend.Name} joins the pool");
                        Publish();
                    }
                }
                else
                {
                    backend.FailingSince ??= _clock.Elapsed;
                    if (backend.InPool && _clock.Elapsed - backend.FailingSince >= LeaveDelay)
                    {
                        backend.InPool = false;
                        Log($"{backend.Name} leaves the pool (readiness failing since {backend.FailingSince.Value.TotalSeconds:0.000})");
                        Publish();
                    }
                }
            }

            try
            {
                await Task.Delay(ProbePeriod, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var pool = Volatile.Read(ref _pool);
        if (pool.Length == 0)
        {
            Reset(client);
            return;
        }

        var backend = pool[(int)((uint)Interlocked.Increment(ref _next) % (uint)pool.Length)];
        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await upstream.ConnectAsync(new IPEndPoint(IPAddress.Loopback, backend.Port), connectTimeout.Token);
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _resets);
            upstream.Dispose();
            Reset(client);
            return;
        }

        await Task.WhenAll(PumpAsync(client, upstream), PumpAsync(upstream, client));
        client.Dispose();
        upstream.Dispose();
    }

    /// <summary>Copies one direction; a clean end (FIN) is passed on as FIN, a failure resets both sides.</summary>
    private static async Task PumpAsync(Socket from, Socket to)
    {
        byte[] buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception)
        {
            Reset(from);
            Reset(to);
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception)
        {
            // Already closed.
        }
    }

    private sealed class Backend
    {
        public Backend(string name, int port, string readinessUrl)
        {
            Name = name;
            Port = port;
            ReadinessUrl = readinessUrl;
        }

        public string Name { get; }

        public int Port { get; }

        public string ReadinessUrl { get; }

        public bool InPool { get; set; }

        public TimeSpan? FailingSince { get; set; }

        public bool Removed { get; set; }
    }
}
