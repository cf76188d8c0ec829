using System.Diagnostics;
using System.Reflection;
using Governor.Interception;

namespace Governor.Plugins.HttpClient;

/// <summary>
/// The fallback path, used when the patch engine is unavailable or the patch cannot be applied:
/// the runtime's <c>HttpHandlerDiagnosticListener</c> (written by the DiagnosticsHandler stage
/// inside every SocketsHttpHandler). Its "System.Net.Http.Request" event runs synchronously in
/// the app's flow just before the request goes to the connection, so handlers can still change
/// headers and the destination and can block by letting this observer throw; but an event cannot
/// return a response, so an answer becomes an <see cref="HttpRequestException"/>, and the request
/// cannot be sent again, so retries are refused. The activity events
/// ("System.Net.Http.HttpRequestOut") are declined, so subscribing creates no Activity and adds no
/// trace header that the app would not have sent anyway.
/// </summary>
internal sealed class DiagnosticListenerPath : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    public const string ListenerName = "HttpHandlerDiagnosticListener";
    private const string RequestEvent = "System.Net.Http.Request";
    private const string ResponseEvent = "System.Net.Http.Response";
    private const string ExceptionEvent = "System.Net.Http.Exception";

    // The request's call travels from the Request event to the Response event through the flow:
    // both run inside the same invocation of the DiagnosticsHandler's async method.
    private static readonly AsyncLocal<HttpOutboundCall?> s_call = new();

    private readonly OutboundRuntime _runtime;
    private readonly Func<string, object?, object?, bool> _isEnabled;
    private readonly PayloadReader _request = new("Request");
    private readonly PayloadReader _response = new("Response");
    private readonly PayloadReader _exception = new("Exception");
    private readonly PayloadReader _status = new("RequestTaskStatus");
    private readonly object _gate = new();
    private readonly List<IDisposable> _subscriptions = new();
    private IDisposable? _all;
    private bool _disposed;

    public DiagnosticListenerPath(OutboundRuntime runtime)
    {
        _runtime = runtime;
        _isEnabled = IsEnabled;
    }

    /// <summary>True once the runtime's listener was seen (it is created with the first SocketsHttpHandler stage chain).</summary>
    public bool ListenerSeen { get; private set; }

    public void Start() => _all = DiagnosticListener.AllListeners.Subscribe(this);

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _all?.Dispose();
            foreach (var subscription in _subscriptions)
            {
                subscription.Dispose();
            }

            _subscriptions.Clear();
        }
    }

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name != ListenerName)
        {
            return;
        }

        lock (_gate)
        {
            if (!_disposed)
            {
                ListenerSeen = true;
                _subscriptions.Add(listener.Subscribe(this, _isEnabled));
            }
        }
    }

    void IObserver<DiagnosticListener>.OnCompleted()
    {
    }

    void IObserver<DiagnosticListener>.OnError(Exception error)
    {
    }

    void IObserver<KeyValuePair<string, object?>>.OnCompleted()
    {
    }

    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error)
    {
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> value)
    {
        switch (value.Key)
        {
            case RequestEvent:
                OnRequest(value.Value);
                break;
            case ExceptionEvent:
                OnException(value.Value);
                break;
            case ResponseEvent:
                OnResponse(value.Value);
                break;
        }
    }

    /// <summary>Only the three events above, and only while a handler is subscribed; never the activity.</summary>
    private bool IsEnabled(string name, object? request, object? context) =>
        name is RequestEvent or ResponseEvent or ExceptionEvent && (_runtime.Pipeline.HasHandlers || _runtime.Startup is { IsOpen: false });

    private void OnRequest(object? payload)
    {
        if (_runtime.Startup is { IsOpen: false } startup)
        {
            startup.Wait();
        }

        var handlers = _runtime.Pipeline.Handlers;
        if (handlers.Length == 0 || _request.Read(payload) is not HttpRequestMessage request)
        {
            return;
        }

        HttpOutboundCall call;
        HttpResponseMessage? answer;
        Exception? rejection;
        try
        {
            call = _runtime.Calls.Rent();
            call.Begin(request, _runtime.Pipeline.MeasuresDuration, handlers);
            (answer, call.HandlersRan, rejection) = OutboundRunner.RunRequestHandlers(_runtime, call, handlers, CancellationToken.None);
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "running request handlers from the diagnostic listener");
            return;
        }

        if (rejection is not null)
        {
            // A deliberate rejection blocks the call as it is: the app sees the handler's own exception.
            OutboundRunner.Reject(_runtime, call, handlers, call.HandlersRan, rejection);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(rejection);
        }

        if (answer is null)
        {
            call.StartTimestamp = call.Now();
            s_call.Value = call;
            return;
        }

        // An event cannot return a response: the answer blocks the call with an exception instead.
        var outcome = new OutboundOutcome(OutboundRuntime.Adopt(answer, request), null, 0, answeredByHandler: true);
        _runtime.Complete(call, handlers, call.HandlersRan, in outcome);
        var blocked = OutboundRuntime.Blocked(answer, call.IsGrpc);
        answer.Dispose();
        call.Reset();
        _runtime.Calls.Return(call);
        _runtime.CountBlockedByThrow();
        throw blocked;
    }

    private void OnException(object? payload)
    {
        var call = s_call.Value;
        if (call is not null && _exception.Read(payload) is Exception exception)
        {
            call.ReportedError = exception;
        }
    }

    private void OnResponse(object? payload)
    {
        var call = s_call.Value;
        if (call is null)
        {
            return;
        }

        s_call.Value = null;
        try
        {
            var response = _response.Read(payload) as HttpResponseMessage;
            var error = call.ReportedError;
            if (response is null && error is null && _status.Read(payload) is TaskStatus.Canceled)
            {
                error = new TaskCanceledException("The request was canceled.");
            }

            var outcome = new OutboundOutcome(response, error, call.Since(call.StartTimestamp), answeredByHandler: false);
            if (_runtime.Complete(call, call.Handlers, call.HandlersRan, in outcome))
            {
                // A listener cannot send the request again: counted as refused.
                _runtime.CountRetryRefused();
            }
        }
        catch (Exception ex)
        {
            _runtime.Failed(ex, "completing a call from the diagnostic listener");
        }
        finally
        {
            call.Reset();
            _runtime.Calls.Return(call);
        }
    }

    /// <summary>Reads one property of the runtime's internal payload types (cached per payload type).</summary>
    private sealed class PayloadReader
    {
        private readonly string _name;
        private Accessor? _accessor;

        public PayloadReader(string name) => _name = name;

        public object? Read(object? payload)
        {
            if (payload is null)
            {
                return null;
            }

            var type = payload.GetType();
            var accessor = Volatile.Read(ref _accessor);
            if (accessor is null || accessor.Type != type)
            {
                accessor = new Accessor(type, type.GetProperty(_name, BindingFlags.Instance | BindingFlags.Public));
                Volatile.Write(ref _accessor, accessor);
            }

            return accessor.Property?.GetValue(payload);
        }

        private sealed record Accessor(Type Type, PropertyInfo? Property);
    }
}
