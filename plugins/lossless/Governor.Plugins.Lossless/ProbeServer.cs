using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Governor.Plugins.Lossless;

/// <summary>
/// The readiness and liveness endpoints, served by the agent on its own port with a raw socket
/// listener: no ASP.NET Core (the app's pipeline, filters and auth never see probes, and a console
/// app gets probes too), no HttpListener (a managed HTTP stack of its own to load and JIT). It
/// answers one request per connection (<c>Connection: close</c>), as kubelet probes do, from
/// responses built once. Anything malformed or slow is answered 400 or dropped; nothing it does
/// can throw into the app.
/// </summary>
internal sealed class ProbeServer : IDisposable
{
    private const int MaxRequestBytes = 4096;
    private const int MaxConnections = 64;
    private static readonly TimeSpan s_readTimeout = TimeSpan.FromSeconds(5);
    private static readonly byte[] s_badRequest = Response("400 Bad Request", "bad request\n", head: false);
    private static readonly byte[] s_notFound = Response("404 Not Found", "not found\n", head: false);
    private static readonly byte[] s_methodNotAllowed = Response("405 Method Not Allowed", "use GET or HEAD\n", head: false, extra: "Allow: GET, HEAD\r\n");

    private readonly byte[] _readinessPath;
    private readonly byte[] _livenessPath;
    private readonly Func<LosslessPhase> _phase;
    private readonly Action _probed;
    private readonly byte[][] _readinessGet;
    private readonly byte[][] _readinessHead;
    private readonly byte[] _liveGet;
    private readonly byte[] _liveHead;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private int _connections;

    public ProbeServer(string readinessPath, string livenessPath, Func<LosslessPhase> phase, Action probed)
    {
        _readinessPath = Encoding.ASCII.GetBytes(readinessPath);
        _livenessPath = Encoding.ASCII.GetBytes(livenessPath);
        _phase = phase;
        _probed = probed;
        var phases = Enum.GetValues<LosslessPhase>();
        _readinessGet = new byte[phases.Length][];
        _readinessHead = new byte[phases.Length][];
        foreach (var p in phases)
        {
            bool ready = p == LosslessPhase.Ready;
            string body = LosslessState.NameOf(p) + "\n";
            _readinessGet[(int)p] = Response(ready ? "200 OK" : "503 Service Unavailable", body, head: false);
            _readinessHead[(int)p] = Response(ready ? "200 OK" : "503 Service Unavailable", body, head: true);
        }

        _liveGet = Response("200 OK", "live\n", head: false);
        _liveHead = Response("200 OK", "live\n", head: true);
    }

    /// <summary>The port actually bound (differs from the setting when that is 0).</summary>
    public int Port { get; private set; }

    public string Endpoint { get; private set; } = string.Empty;

    /// <summary>Binds and starts accepting. Returns null, or the reason it could not bind.</summary>
    public string? Start(IPAddress? address, int port)
    {
        Socket? socket = null;
        try
        {
            socket = Bind(address, port);
            socket.Listen(128);
            _listener = socket;
            var local = (IPEndPoint)socket.LocalEndPoint!;
            Port = local.Port;
            Endpoint = address is null ? $"*:{Port}" : $"{FormatAddress(address)}:{Port}";
            _ = AcceptLoopAsync(socket);
            return null;
        }
        catch (SocketException ex)
        {
            socket?.Dispose();
            return ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"probe port {port} is already in use ({(address is null ? "all interfaces" : FormatAddress(address))}); set GOVERNOR_PROBE_PORT to a free port"
                : $"probe port {port} could not be bound: {ex.SocketErrorCode} ({ex.Message})";
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _listener?.Dispose();
        }
        catch (Exception)
        {
            // Already closed.
        }
    }

    private static Socket Bind(IPAddress? address, int port)
    {
        if (address is null && Socket.OSSupportsIPv6)
        {
            // The kubelet probes the pod IP, which may be IPv4 or IPv6: one dual-mode socket covers both.
            var dual = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                PrepareListener(dual);
                dual.DualMode = true;
                dual.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
                return dual;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable)
            {
                dual.Dispose();
            }
            catch
            {
                dual.Dispose();
                throw;
            }
        }

        var ip = address ?? IPAddress.Any;
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            PrepareListener(socket);
            socket.Bind(new IPEndPoint(ip, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void PrepareListener(Socket socket)
    {
        if (!OperatingSystem.IsWindows())
        {
            // The server closes each probe connection, so its side holds TIME_WAIT: without
            // SO_REUSEADDR a restarted container (same pod, same network namespace) could not bind
            // the port for a minute. On Linux this never lets two listeners share the port.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        }
    }

    private static string FormatAddress(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // A connection reset before it was accepted; keep serving.
                continue;
            }

            if (Interlocked.Increment(ref _connections) > MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                client.Dispose();
                continue;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxRequestBytes);
        try
        {
            client.NoDelay = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(s_readTimeout);
            int length = 0;
            int headerEnd = -1;
            while (headerEnd < 0 && length < MaxRequestBytes)
            {
                int read = await client.ReceiveAsync(buffer.AsMemory(length, MaxRequestBytes - length), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                length += read;
                headerEnd = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8);
            }

            byte[] response = headerEnd < 0 ? s_badRequest : Answer(buffer.AsSpan(0, headerEnd));
            await client.SendAsync(response, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception)
        {
            // A probe that went away, timed out or sent garbage: nothing to do but close.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            client.Dispose();
            Interlocked.Decrement(ref _connections);
        }
    }

    /// <summary>The response to a request head ("GET /governor/ready HTTP/1.1\r\nHost: ...").</summary>
    internal byte[] Answer(ReadOnlySpan<byte> head)
    {
        int lineEnd = head.IndexOf("\r\n"u8);
        var line = lineEnd < 0 ? head : head[..lineEnd];
        int firstSpace = line.IndexOf((byte)' ');
        if (firstSpace <= 0)
        {
            return s_badRequest;
        }

        var method = line[..firstSpace];
        var rest = line[(firstSpace + 1)..];
        int secondSpace = rest.IndexOf((byte)' ');
        var target = secondSpace < 0 ? rest : rest[..secondSpace];
        int query = target.IndexOf((byte)'?');
        var path = query < 0 ? target : target[..query];
        bool isHead = method.SequenceEqual("HEAD"u8);
        if (!isHead && !method.SequenceEqual("GET"u8))
        {
            return s_methodNotAllowed;
        }

        if (path.SequenceEqual(_readinessPath))
        {
            _probed();
            int phase = (int)_phase();
            return isHead ? _readinessHead[phase] : _readinessGet[phase];
        }

        if (path.SequenceEqual(_livenessPath))
        {
            return isHead ? _liveHead : _liveGet;
        }

        return s_notFound;
    }

    private static byte[] Response(string status, string body, bool head, string extra = "")
    {
        string text = $"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.ASCII.GetByteCount(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n{extra}\r\n{(head ? string.Empty : body)}";
        return Encoding.ASCII.GetBytes(text);
    }
}
