namespace Governor.Interception;

/// <summary>
/// The web host's lifecycle, provided by the ASP.NET Core interception plugin (which sees the
/// host through its hosting-startup bootstrap) and used by governance plugins that act on
/// startup and shutdown (lossless). Typed with BCL types only, so the contract does not depend
/// on ASP.NET Core; plugins that reference ASP.NET Core may resolve services from the
/// <see cref="IServiceProvider"/> they receive.
/// </summary>
public sealed class HostLifecycle
{
    private readonly object _gate = new();
    private Action<IServiceProvider>? _started;
    private Action? _stopping;
    private Action? _minimumChanged;
    private TimeSpan? _minimumShutdownTimeout;
    private (string Owner, int Order, Func<CancellationToken, Task> Gate)[] _stopGates = Array.Empty<(string, int, Func<CancellationToken, Task>)>();
    private IServiceProvider? _services;
    private bool _isStopping;
    private readonly ManualResetEventSlim _stoppingHandled = new(false);

    /// <summary>The plugin that reports this host's lifecycle, or null when no web host is seen.</summary>
    public string? Provider { get; private set; }

    /// <summary>The app's services once the host has started; null before.</summary>
    public IServiceProvider? Services => Volatile.Read(ref _services);

    /// <summary>The addresses the server listens on (e.g. "http://127.0.0.1:5000"), once started.</summary>
    public IReadOnlyList<string> ServerAddresses { get; private set; } = Array.Empty<string>();

    /// <summary>True once the host has started stopping (SIGTERM or StopApplication).</summary>
    public bool IsStopping => Volatile.Read(ref _isStopping);

    /// <summary>
    /// A lower bound for the host's shutdown timeout (<c>HostOptions.ShutdownTimeout</c>), applied
    /// when the host is built and again when it changes (a plugin started alongside the app may set
    /// it after the host was built). The larger of the app's own value and this one is used.
    /// </summary>
    public TimeSpan? MinimumShutdownTimeout
    {
        get => _minimumShutdownTimeout;
        set
        {
            _minimumShutdownTimeout = value;
            Action? changed;
            lock (_gate)
            {
                changed = _minimumChanged;
            }

            changed?.Invoke();
        }
    }

    /// <summary>For the provider: raised when <see cref="MinimumShutdownTimeout"/> is set.</summary>
    public event Action? MinimumShutdownTimeoutChanged
    {
        add
        {
            lock (_gate)
            {
                _minimumChanged += value;
            }
        }

        remove
        {
            lock (_gate)
            {
                _minimumChanged -= value;
            }
        }
    }

    /// <summary>Raised once when the host has started (after the server listens). Late subscribers are called at once.</summary>
    public event Action<IServiceProvider>? Started
    {
        add
        {
            IServiceProvider? services;
            lock (_gate)
            {
                _started += value;
                services = _services;
            }

            if (services is not null)
            {
                value?.Invoke(services);
            }
        }

        remove
        {
            lock (_gate)
            {
                _started -= value;
            }
        }
    }

    /// <summary>Raised once when the host begins to stop, before any stop gate runs.</summary>
    public event Action? Stopping
    {
        add
        {
            lock (_gate)
            {
                _stopping += value;
            }
        }

        remove
        {
            lock (_gate)
            {
                _stopping -= value;
            }
        }
    }

    /// <summary>
    /// Adds work the host awaits when it stops, after <see cref="Stopping"/> and before the server
    /// stops accepting connections (e.g. a drain delay). Gates run in <paramref name="order"/>,
    /// one after another; the token is cancelled when the host's shutdown timeout expires.
    /// Dispose the result to remove the gate.
    /// </summary>
    public IDisposable AddStopGate(string owner, int order, Func<CancellationToken, Task> gate)
    {
        var entry = (owner, order, gate);
        lock (_gate)
        {
            _stopGates = _stopGates.Append(entry).OrderBy(g => g.Item2).ToArray();
        }

        return new Removal(() =>
        {
            lock (_gate)
            {
                _stopGates = _stopGates.Where(g => !ReferenceEquals(g.Item3, gate)).ToArray();
            }
        });
    }

    // ---- Provider side (the ASP.NET Core interception plugin) ----

    public void SetProvider(string plugin) => Provider = plugin;

    /// <summary>Called by the provider when the host has started.</summary>
    public void NotifyStarted(IServiceProvider services, IReadOnlyList<string> serverAddresses)
    {
        Action<IServiceProvider>? handlers;
        lock (_gate)
        {
            if (_services is not null)
            {
                return;
            }

            ServerAddresses = serverAddresses;
            Volatile.Write(ref _services, services);
            handlers = _started;
        }

        Invoke(handlers, services);
    }

    /// <summary>Called by the provider when the host begins to stop.</summary>
    public void NotifyStopping()
    {
        Action? handlers;
        lock (_gate)
        {
            if (_isStopping)
            {
                handlers = null;
            }
            else
            {
                Volatile.Write(ref _isStopping, true);
                handlers = _stopping ?? (Action)NoOp;
            }
        }

        if (handlers is null)
        {
            // SIGTERM (ApplicationStopping) and the host's StoppingAsync race on two threads: the
            // loser waits, bounded, so no stop gate runs before every Stopping handler has run.
            _stoppingHandled.Wait(TimeSpan.FromSeconds(5));
            return;
        }

        try
        {
            foreach (var d in handlers.GetInvocationList())
            {
                try
                {
                    ((Action)d)();
                }
                catch (Exception)
                {
                    // A plugin's failure must not stop the host from stopping.
                }
            }
        }
        finally
        {
            _stoppingHandled.Set();
        }
    }

    private static void NoOp()
    {
    }

    /// <summary>Runs the stop gates in order; called by the provider before the server stops.</summary>
    public async Task RunStopGatesAsync(CancellationToken cancellationToken)
    {
        (string Owner, int Order, Func<CancellationToken, Task> Gate)[] gates;
        lock (_gate)
        {
            gates = _stopGates;
        }

        foreach (var (_, _, gate) in gates)
        {
            try
            {
                await gate(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Fail-open: a broken gate shortens the drain, it never blocks shutdown.
            }
        }
    }

    private static void Invoke(Action<IServiceProvider>? handlers, IServiceProvider services)
    {
        foreach (var d in handlers?.GetInvocationList() ?? Array.Empty<Delegate>())
        {
            try
            {
                ((Action<IServiceProvider>)d)(services);
            }
            catch (Exception)
            {
                // Same as above: one plugin cannot spoil startup for the others.
            }
        }
    }

    private sealed class Removal : IDisposable
    {
        private Action? _remove;

        public Removal(Action remove) => _remove = remove;

        public void Dispose() => Interlocked.Exchange(ref _remove, null)?.Invoke();
    }
}
