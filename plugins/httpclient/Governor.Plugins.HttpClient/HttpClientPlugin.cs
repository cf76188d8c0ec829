using Governor.Interception;
using Governor.Patching;

namespace Governor.Plugins.HttpClient;

/// <summary>
/// Provides the <c>outbound</c> interception point for every HttpClient in the process. Chooses
/// the path at start (setting <c>plugins:httpclient:mechanism</c>: auto, patch, listener):
/// the SocketsHttpHandler patch when the patch engine is available and the patch applies
/// (handlers can answer and retry), else the DiagnosticListener (handlers can change the request
/// and block by exception only). The status detail and the pipeline's provider detail say which
/// path runs and what it cannot do.
/// </summary>
public sealed class HttpClientPlugin : IGovernorPlugin
{
    private IPluginContext? _context;
    private OutboundRuntime? _runtime;
    private IDisposable? _patch;
    private DiagnosticListenerPath? _listener;

    public void Start(IPluginContext context)
    {
        _context = context;
        var pipeline = context.Interception.Outbound;
        var runtime = new OutboundRuntime(pipeline, context.Logger);
        string mechanism = context.Settings.GetChoice("mechanism", "auto", "auto", "patch", "listener");
        string? patchProblem = null;
        if (mechanism != "listener")
        {
            patchProblem = TryPatch(context, runtime);
        }

        string detail;
        if (_patch is not null)
        {
            bool jit = ReadyToRun.IsExcluded("System.Net.Http");
            runtime.Mechanism = "patch";
            detail = $"SocketsHttpHandler.SendAsync/Send detour ({(jit ? "JIT-compiled: System.Net.Http is in DOTNET_ReadyToRunExcludeList" : "hot-patched precompiled code")}): handlers can change headers and the destination, answer (HTTP or gRPC trailers-only) and retry";
        }
        else if (mechanism == "patch")
        {
            runtime.Mechanism = "none";
            detail = $"not intercepting outbound HTTP: mechanism=patch and {patchProblem}";
            context.Logger.Warn("Outbound HTTP is not intercepted: {Detail}", detail);
            pipeline.SetProvider(null);
            context.SetDetail(detail);
            _runtime = runtime;
            return;
        }
        else
        {
            _listener = new DiagnosticListenerPath(runtime);
            _listener.Start();
            runtime.Mechanism = "listener";
            string why = mechanism == "listener" ? "mechanism=listener" : patchProblem!;
            detail = $"DiagnosticListener '{DiagnosticListenerPath.ListenerName}' ({why}): handlers can change headers and the destination and block (the app gets HttpRequestException); "
                + "lost without the patch: answers (synthetic responses; gRPC clients see a transport error instead of the status), retries, asynchronous OnRequestAsync without blocking the sending thread, and apps that turn off activity propagation are not seen";
            context.Logger.Warn("Outbound HTTP uses the fallback path: {Detail}", detail);
        }

        context.RegisterStatus(runtime);
        OutboundRuntime.Activate(runtime);
        _runtime = runtime;
        pipeline.SetProvider(context.PluginName, detail);
        context.SetDetail(detail);
        context.Logger.Info("Outbound HTTP interception: {Detail}", detail);
    }

    public void Stop()
    {
        OutboundRuntime.Activate(null);
        _listener?.Dispose();
        _listener = null;
        _patch?.Dispose();
        _patch = null;
        _context?.Interception.Outbound.SetProvider(null);
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
