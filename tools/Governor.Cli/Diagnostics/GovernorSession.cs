using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace Governor.Cli.Diagnostics;

/// <summary>
/// A live EventPipe session on the <c>Governor</c> EventSource of one process. The agent emits
/// its whole status as JSON (event 1, <c>Status</c>) as soon as a listener enables the source,
/// then every second and on every state change; each one is handed to <see cref="StatusReceived"/>.
/// No port is opened in the target: this is the runtime's own diagnostics IPC.
/// </summary>
internal sealed class GovernorSession : IAsyncDisposable
{
    public const string ProviderName = "Governor";
    private const int StatusEventId = 1;

    private readonly EventPipeSession _session;
    private readonly EventPipeEventSource _source;
    private readonly Task _processing;
    private int _stopped;

    private GovernorSession(EventPipeSession session, Action<string> onStatus)
    {
        _session = session;
        _source = new EventPipeEventSource(session.EventStream);
        _source.Dynamic.All += e =>
        {
            if (e.ProviderName == ProviderName && ((int)e.ID == StatusEventId || e.EventName == "Status") && e.PayloadByName("json") is string json)
            {
                onStatus(json);
            }
        };
        // Process() returns when the stream ends: the session stopped or the process exited.
        _processing = Task.Factory.StartNew(() =>
        {
            try
            {
                _source.Process();
            }
            catch (Exception)
            {
                // A truncated stream (the target died) ends the session like a normal stop.
            }
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>Completes when the event stream ends (the target exited or the session was stopped).</summary>
    public Task Completion => _processing;

    /// <summary>Opens the session. Throws <see cref="CliException"/> when the process cannot be reached.</summary>
    public static async Task<GovernorSession> StartAsync(int pid, Action<string> onStatus, CancellationToken cancellationToken)
    {
        var client = new DiagnosticsClient(pid);
        var providers = new[] { new EventPipeProvider(ProviderName, EventLevel.Informational, -1) };
        try
        {
            // No rundown: it is only needed to resolve stacks and would make every stop slow.
            var session = await client.StartEventPipeSessionAsync(providers, requestRundown: false, circularBufferMB: 8, cancellationToken).ConfigureAwait(false);
            return new GovernorSession(session, onStatus);
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnauthorizedAccessException or ServerErrorException or IOException or TimeoutException)
        {
            throw Unreachable(pid, ex);
        }
    }

    /// <summary>Waits for the first Status event; null when none came within <paramref name="timeout"/>.</summary>
    public static async Task<string?> ReadOnceAsync(int pid, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var first = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        GovernorSession session;
        try
        {
            session = await StartAsync(pid, json => first.TrySetResult(json), timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.TargetUnreachable, $"process {pid} did not answer on its diagnostic port within {timeout.TotalSeconds:0.#} s.", "It may be suspended or overloaded; try again or pass a longer --timeout.");
        }

        await using (session.ConfigureAwait(false))
        {
            var winner = await Task.WhenAny(first.Task, session.Completion, Task.Delay(Timeout.Infinite, timeoutSource.Token)).ConfigureAwait(false);
            return winner == first.Task ? await first.Task.ConfigureAwait(false) : null;
        }
    }

    public static CliException Unreachable(int pid, Exception ex) => ex switch
    {
        UnauthorizedAccessException => new CliException(ExitCodes.TargetUnreachable, $"not allowed to open the diagnostic port of process {pid} ({ex.Message}).", "Run governor as the same user as the process (or root)."),
        _ => new CliException(ExitCodes.TargetUnreachable, $"cannot talk to process {pid} over its diagnostic port: {ex.Message}", "The process may have exited, or it runs with another TMPDIR or in another container."),
    };

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            // Stop asks the runtime to end the stream; bounded, since a dying target may never answer.
            await Task.Run(() => _session.Stop()).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The target is gone or busy: closing our end below is enough.
        }

        try
        {
            _source.StopProcessing();
        }
        catch (Exception)
        {
            // Already ended.
        }

        _session.Dispose();
        await Task.WhenAny(_processing, Task.Delay(1000)).ConfigureAwait(false);
        _source.Dispose();
    }
}
