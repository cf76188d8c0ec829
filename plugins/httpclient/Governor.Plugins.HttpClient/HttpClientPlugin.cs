using System.Runtime.CompilerServices;
using Governor.Interception;
using Governor.Patching;

namespace Governor.Plugins.HttpClient;

/// <summary>
/// Provides the <c>outbound</c> interception point for every HttpClient in the process. Chooses
/// the path (setting <c>plugins:httpclient:mechanism</c>: auto, patch, listener): the
/// SocketsHttpHandler patch when the patch engine is available and the patch applies (handlers
/// can answer and retry), else the DiagnosticListener (handlers can change the request and block
/// by exception only). The patch is applied when System.Net.Http loads (at start when it already
/// has): an app that never sends HTTP never loads it nor pays for the patch, and one that does is
/// patched before its first request can run. The status detail and the pipeline's provider
/// detail say which path runs and what it cannot do.
/// </summary>
public sealed class HttpClientPlugin : IGovernorPlugin
{
    private const string HttpAssembly = "System.Net.Http";

    private readonly object _gate = new();
    private IPluginContext? _context;
    private OutboundRuntime? _runtime;
    private IDisposable? _patch;
    private DiagnosticListenerPath? _listener;
    private string _mechanism = "auto";
    private int _waiting;
    private int _claimed;
    private volatile bool _stopped;

    public void Start(IPluginContext context)
    {
        _context = context;
        _stopped = false;
        var runtime = new OutboundRuntime(context.Interception.Outbound, context.Logger) { Startup = context.Interception.Startup };
        _runtime = runtime;
        _mechanism = context.Settings.GetChoice("mechanism", "auto", "auto", "patch", "listener");
        context.RegisterStatus(runtime);
        if (_mechanism == "listener" || context.Patching is null)
        {
            Choose(TryPatchNow());
            return;
        }

        // Subscribed before looking, so that a load in between is not missed. Whoever claims the
        // patch applies it (this thread, or the thread loading System.Net.Http): no lock is held
        // while patching, since the loading thread may be inside the JIT, which the patch waits for.
        _claimed = 0;
        Interlocked.Exchange(ref _waiting, 1);
        AppDomain.CurrentDomain.AssemblyLoad += OnAssemblyLoad;
        if (IsLoaded())
        {
            PatchIfClaimed();
            return;
        }

        // Governance plugins start after this one: their outbound handlers (typed with
        // System.Net.Http) are created when it loads, not now.
        context.Interception.Outbound.Defer();
        lock (_gate)
        {
            if (Volatile.Read(ref _claimed) == 0)
            {
                string detail = "SocketsHttpHandler.SendAsync/Send detour, applied when the app loads System.Net.Http (not loaded yet: no HttpClient has been used)";
                context.Interception.Outbound.SetProvider(context.PluginName, detail);
                context.SetDetail(detail);
                context.Logger.Debug("Outbound HTTP: {Detail}", detail);
            }
        }

        // Loaded between the look above and the deferral: claim it here.
        if (IsLoaded())
        {
            PatchIfClaimed();
        }
    }

    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            StopWaiting();
            OutboundRuntime.Activate(null);
            _listener?.Dispose();
            _listener = null;
            _patch?.Dispose();
            _patch = null;
            _context?.Interception.Outbound.SetProvider(null);
        }
    }

    private void OnAssemblyLoad(object? sender, AssemblyLoadEventArgs args)
    {
        try
        {
            if (string.Equals(args.LoadedAssembly.GetName().Name, HttpAssembly, StringComparison.Ordinal))
            {
                // On the thread that loads it, before any of its code runs: the app's first request is patched.
                PatchIfClaimed();
            }
        }
        catch (Exception ex)
        {
            // An AssemblyLoad handler that throws would fail the app's load: never.
            _context?.Logger.Error(ex, "Outbound HTTP interception could not be set up when System.Net.Http loaded; outbound calls are not intercepted");
        }
    }

    /// <summary>Applies the patch (or the fallback) once, on whichever thread claims it first.</summary>
    private void PatchIfClaimed()
    {
        if (Interlocked.CompareExchange(ref _claimed, 1, 0) != 0 || _stopped)
        {
            return;
        }

        StopWaiting();
        Choose(TryPatchNow());
    }

    private void StopWaiting()
    {
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            AppDomain.CurrentDomain.AssemblyLoad -= OnAssemblyLoad;
        }
    }

    private static bool IsLoaded()
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (string.Equals(assembly.GetName().Name, HttpAssembly, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The patch when wanted and possible; returns why not (null on success or when not wanted).</summary>
    private string? TryPatchNow() => _mechanism == "listener" ? null : TryPatch(_context!, _runtime!);

    /// <summary>Activates the path the patch outcome leaves (System.Net.Http is loaded by now, or the listener is used).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Choose(string? patchProblem)
    {
        var context = _context!;
        var runtime = _runtime!;
        var pipeline = context.Interception.Outbound;
        string detail;
        if (_patch is not null)
        {
            bool jit = ReadyToRun.IsExcluded(HttpAssembly);
            runtime.Mechanism = "patch";
            detail = $"SocketsHttpHandler.SendAsync/Send detour ({(jit ? "JIT-compiled: System.Net.Http is in DOTNET_ReadyToRunExcludeList" : "hot-patched precompiled code")}): handlers can change headers and the destination, answer (HTTP or gRPC trailers-only) and retry";
        }
        else if (_mechanism == "patch")
        {
            runtime.Mechanism = "none";
            detail = $"not intercepting outbound HTTP: mechanism=patch and {patchProblem}";
            context.Logger.Warn("Outbound HTTP is not intercepted: {Detail}", detail);
            pipeline.SetProvider(null);
            context.SetDetail(detail);
            return;
        }
        else
        {
            _listener = new DiagnosticListenerPath(runtime);
            _listener.Start();
            runtime.Mechanism = "listener";
            string why = _mechanism == "listener" ? "mechanism=listener" : patchProblem ?? $"patching is unavailable ({context.PatchingUnavailableReason})";
            detail = $"DiagnosticListener '{DiagnosticListenerPath.ListenerName}' ({why}): handlers can change headers and the destination and block (the app gets HttpRequestException); "
                + "lost without the patch: answers (synthetic responses; gRPC clients see a transport error instead of the status), retries, asynchronous OnRequestAsync without blocking the sending thread, and apps that turn off activity propagation are not seen";
            context.Logger.Warn("Outbound HTTP uses the fallback path: {Detail}", detail);
        }

        // System.Net.Http is loaded by now: the governance plugins' outbound handlers can exist.
        foreach (string failure in pipeline.Materialize())
        {
            context.Logger.Warn("An outbound handler could not be created and is left out: {Failure}", failure);
        }

        OutboundRuntime.Activate(runtime);
        pipeline.SetProvider(context.PluginName, detail);
        context.SetDetail(detail);
        context.Logger.Info("Outbound HTTP interception: {Detail}", detail);
    }

    /// <summary>Applies the patch; returns why it could not (null on success).</summary>
    private string? TryPatch(IPluginContext context, OutboundRuntime runtime)
    {
        if (context.Patching is not { } engine)
        {
            return $"patching is unavailable ({context.PatchingUnavailableReason})";
        }

        try
        {
            // Active before the detour exists: the replacements must find the runtime on the first call.
            OutboundRuntime.Activate(runtime);
            _patch = SocketsHandlerDetour.Install(engine, context.PluginName);
            return null;
        }
        catch (PatchException ex)
        {
            OutboundRuntime.Activate(null);
            context.Logger.Warn("The SocketsHttpHandler patch could not be applied: {Reason}", ex.Message);
            return $"the SocketsHttpHandler patch could not be applied ({ex.Message})";
        }
    }
}
