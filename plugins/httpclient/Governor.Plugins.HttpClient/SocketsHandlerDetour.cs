using System.Reflection;
using System.Runtime.CompilerServices;
using Governor.Patching;

namespace Governor.Plugins.HttpClient;

/// <summary>
/// The patch path: <c>SocketsHttpHandler.SendAsync</c> and <c>Send</c> are detoured to the
/// replacements below. Every HttpClient on Linux ends there — <c>new HttpClient()</c> and
/// <c>HttpClientHandler</c> wrap a SocketsHttpHandler, IHttpClientFactory's primary handler is
/// one, gRPC clients send through one — and the detour sits above the framework's own stages
/// (redirects, decompression, diagnostics, connection pools), so a handler's header or
/// destination change is what those stages and the network see, and a retry goes through all of
/// them again. SocketsHttpHandler is sealed: no derived type can inherit the redirected code.
/// </summary>
internal static unsafe class SocketsHandlerDetour
{
    private static nint s_sendAsync;
    private static nint s_send;

    /// <summary>The two targets, or null when this runtime's SocketsHttpHandler does not have them.</summary>
    public static (MethodInfo SendAsync, MethodInfo Send)? Targets()
    {
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly;
        var type = typeof(SocketsHttpHandler);
        var parameters = new[] { typeof(HttpRequestMessage), typeof(CancellationToken) };
        var sendAsync = type.GetMethod("SendAsync", flags, parameters);
        var send = type.GetMethod("Send", flags, parameters);
        return sendAsync is null || send is null ? null : (sendAsync, send);
    }

    /// <summary>Detours both methods; throws <see cref="PatchException"/> with nothing left patched when either cannot be.</summary>
    public static IDisposable Install(IPatchEngine engine, string owner)
    {
        var targets = Targets() ?? throw new PatchException("SocketsHttpHandler.SendAsync/Send were not found on this runtime");
        var sendAsync = engine.Detour(targets.SendAsync, typeof(SocketsHandlerDetour).GetMethod(nameof(SendAsync), BindingFlags.Static | BindingFlags.NonPublic)!, owner);
        Volatile.Write(ref s_sendAsync, sendAsync.Original);
        try
        {
            var send = engine.Detour(targets.Send, typeof(SocketsHandlerDetour).GetMethod(nameof(Send), BindingFlags.Static | BindingFlags.NonPublic)!, owner);
            Volatile.Write(ref s_send, send.Original);
            return new Both(sendAsync, send);
        }
        catch
        {
            sendAsync.Dispose();
            throw;
        }
    }

    /// <summary>Replaces <c>SocketsHttpHandler.SendAsync</c>.</summary>
    private static Task<HttpResponseMessage> SendAsync(SocketsHttpHandler handler, HttpRequestMessage request, CancellationToken cancellationToken) =>
        OutboundDispatch.SendAsync(new OriginalSender(handler), request, cancellationToken);

    /// <summary>Replaces <c>SocketsHttpHandler.Send</c> (synchronous HTTP/1.1).</summary>
    private static HttpResponseMessage Send(SocketsHttpHandler handler, HttpRequestMessage request, CancellationToken cancellationToken) =>
        OutboundDispatch.Send(new OriginalSender(handler), request, cancellationToken);

    /// <summary>
    /// A call can reach a replacement between the engine installing the detour and this class
    /// storing the original's pointer (a few instructions later, on the patching thread): wait for it.
    /// </summary>
    private static nint Original(ref nint slot)
    {
        nint pointer = Volatile.Read(ref slot);
        while (pointer == 0)
        {
            Thread.Yield();
            pointer = Volatile.Read(ref slot);
        }

        return pointer;
    }

    /// <summary>Calls the framework's original code (at whatever tier it is).</summary>
    private readonly struct OriginalSender : IOutboundSender
    {
        private readonly SocketsHttpHandler _handler;

        public OriginalSender(SocketsHttpHandler handler) => _handler = handler;

        public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            ((delegate*<SocketsHttpHandler, HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>>)Original(ref s_sendAsync))(_handler, request, cancellationToken);

        public HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            ((delegate*<SocketsHttpHandler, HttpRequestMessage, CancellationToken, HttpResponseMessage>)Original(ref s_send))(_handler, request, cancellationToken);
    }

    private sealed class Both : IDisposable
    {
        private IDisposable? _first;
        private IDisposable? _second;

        public Both(IDisposable first, IDisposable second)
        {
            _first = first;
            _second = second;
        }

        public void Dispose()
        {
            Interlocked.Exchange(ref _first, null)?.Dispose();
            Interlocked.Exchange(ref _second, null)?.Dispose();
        }
    }
}

/// <summary>
/// What a replacement does on every call: with no handler subscribed (or the plugin stopped), one
/// static read, one array length check and the original; otherwise the pipeline.
/// </summary>
internal static class OutboundDispatch
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Task<HttpResponseMessage> SendAsync<TSender>(TSender sender, HttpRequestMessage request, CancellationToken cancellationToken)
        where TSender : IOutboundSender
    {
        var runtime = OutboundRuntime.Current;
        Governor.Interception.IOutboundHandler[] handlers;
        if (runtime is null)
        {
            return sender.SendAsync(request, cancellationToken);
        }

        if (runtime.Startup is { IsOpen: false } startup)
        {
            return HeldSendAsync(runtime, startup, sender, request, cancellationToken);
        }

        if ((handlers = runtime.Pipeline.Handlers).Length == 0)
        {
            return sender.SendAsync(request, cancellationToken);
        }

        return OutboundRunner.SendAsync(runtime, sender, request, cancellationToken, handlers);
    }

    // Only while the agent still starts governance plugins alongside the app.
    private static async Task<HttpResponseMessage> HeldSendAsync<TSender>(OutboundRuntime runtime, Governor.Interception.StartupGate startup, TSender sender, HttpRequestMessage request, CancellationToken cancellationToken)
        where TSender : IOutboundSender
    {
        // A call that waited the whole hold timeout goes on; the gate reports it.
        await startup.WaitAsync(cancellationToken).ConfigureAwait(false);

        var handlers = runtime.Pipeline.Handlers;
        return await (handlers.Length == 0 ? sender.SendAsync(request, cancellationToken) : OutboundRunner.SendAsync(runtime, sender, request, cancellationToken, handlers)).ConfigureAwait(false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static HttpResponseMessage Send<TSender>(TSender sender, HttpRequestMessage request, CancellationToken cancellationToken)
        where TSender : IOutboundSender
    {
        var runtime = OutboundRuntime.Current;
        Governor.Interception.IOutboundHandler[] handlers;
        if (runtime is null)
        {
            return sender.Send(request, cancellationToken);
        }

        if (runtime.Startup is { IsOpen: false } startup)
        {
            startup.Wait();
        }

        if ((handlers = runtime.Pipeline.Handlers).Length == 0)
        {
            return sender.Send(request, cancellationToken);
        }

        return OutboundRunner.Send(runtime, sender, request, cancellationToken, handlers);
    }
}
