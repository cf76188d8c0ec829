namespace Governor.Interception;

/// <summary>
/// An ordered list of handlers for one interception point. Governance plugins subscribe; the
/// interception plugin that provides the point reads <see cref="Handlers"/> on every call.
/// Readers never lock: subscribing swaps in a new sorted array.
/// </summary>
public sealed class HandlerPipeline<THandler>
    where THandler : class
{
    /// <summary>At most this many handlers per pipeline (per-call state has one slot each).</summary>
    public const int MaxHandlers = 16;

    private readonly object _gate = new();
    private Entry[] _entries = Array.Empty<Entry>();
    private THandler[] _handlers = Array.Empty<THandler>();
    private string? _provider;
    private bool _measuresDuration;
    private readonly List<Deferred> _deferred = new();
    private bool _materialized = true;

    public HandlerPipeline(string name)
    {
        Name = name;
    }

    /// <summary>"inbound", "outbound" or "sql".</summary>
    public string Name { get; }

    /// <summary>The current handlers, lowest order first. A snapshot: capture it once per call.</summary>
    public THandler[] Handlers => Volatile.Read(ref _handlers);

    public bool HasHandlers => Volatile.Read(ref _handlers).Length != 0;

    /// <summary>
    /// True when a subscribed handler wants durations. Providers skip the clock otherwise: a
    /// clock read costs tens of nanoseconds on some virtual machines, per call, twice.
    /// </summary>
    public bool MeasuresDuration => Volatile.Read(ref _measuresDuration);

    /// <summary>
    /// Raised after a handler subscribed or unsubscribed, on the thread that did it (never on a
    /// request path), with no lock held. Providers use it to switch on what only some handlers
    /// need (e.g. the inbound route stage, <see cref="IInboundRouteHandler"/>); read
    /// <see cref="Handlers"/> for the current list, since two changes may report out of order.
    /// </summary>
    public event Action? Changed;

    /// <summary>The plugin that feeds this pipeline, or null when nothing intercepts this point.</summary>
    public string? Provider => Volatile.Read(ref _provider);

    /// <summary>What the provider can do here (e.g. "SocketsHttpHandler patch: can answer").</summary>
    public string? ProviderDetail { get; private set; }

    /// <summary>Called by the interception plugin that provides this point.</summary>
    public void SetProvider(string? plugin, string? detail = null)
    {
        ProviderDetail = detail;
        Volatile.Write(ref _provider, plugin);
    }

    /// <summary>
    /// Adds a handler. Lower <paramref name="order"/> runs first on the way in and last on
    /// completion. Documented orders: lossless -100, gray 0, throttle 100, sqlguard 100.
    /// Dispose the result to unsubscribe. Pass <paramref name="measuresDuration"/> false when the
    /// handler never reads the outcome's duration (it is then 0 unless another handler wants it).
    /// </summary>
    public IDisposable Subscribe(THandler handler, int order, string owner, bool measuresDuration = true)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Subscription subscription;
        lock (_gate)
        {
            if (_entries.Length >= MaxHandlers)
            {
                throw new InvalidOperationException($"The {Name} pipeline already has {MaxHandlers} handlers; '{owner}' cannot subscribe.");
            }

            var entry = new Entry(handler, order, owner, _entries.Length == 0 ? 0 : _entries.Max(e => e.Sequence) + 1, measuresDuration);
            Publish(_entries.Append(entry));
            subscription = new Subscription(this, entry);
        }

        Changed?.Invoke();
        return subscription;
    }

    /// <summary>
    /// Adds a handler created at once, or, while the provider defers the pipeline
    /// (<see cref="Defer"/>), when it materializes it (<see cref="Materialize"/>). For handlers whose type names types
    /// of an assembly the app may never load: outbound handlers use System.Net.Http types, and
    /// loading a handler type loads that assembly, which an app that never sends HTTP need not
    /// pay for; the outbound provider materializes when System.Net.Http loads. Same ordering and
    /// disposal as <see cref="Subscribe(THandler, int, string, bool)"/>.
    /// </summary>
    public IDisposable Subscribe(Func<THandler> create, int order, string owner, bool measuresDuration = true)
    {
        ArgumentNullException.ThrowIfNull(create);
        lock (_gate)
        {
            if (!_materialized)
            {
                var pending = new Deferred(this, create, order, owner, measuresDuration);
                _deferred.Add(pending);
                return pending;
            }
        }

        return Subscribe(create(), order, owner, measuresDuration);
    }

    /// <summary>
    /// Called by the provider, before governance plugins subscribe, when it cannot feed the
    /// pipeline yet: deferred subscriptions keep their handler uncreated until <see cref="Materialize"/>.
    /// </summary>
    public void Defer()
    {
        lock (_gate)
        {
            _materialized = false;
        }
    }

    /// <summary>
    /// Called by the provider when it is about to feed the pipeline: creates the handlers of
    /// deferred subscriptions (and every later one at once). Returns what failed ("owner: reason");
    /// a handler whose creation throws is left out.
    /// </summary>
    public IReadOnlyList<string> Materialize()
    {
        Deferred[] pending;
        lock (_gate)
        {
            _materialized = true;
            pending = _deferred.ToArray();
            _deferred.Clear();
        }

        var failures = new List<string>();
        foreach (var item in pending)
        {
            try
            {
                item.Attach(Subscribe(item.Create(), item.Order, item.Owner, item.MeasuresDuration));
            }
            catch (Exception ex)
            {
                failures.Add($"{item.Owner}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        return failures;
    }

    /// <summary>The owners of the handlers, in order, then those of deferred subscriptions (for status).</summary>
    public IReadOnlyList<string> Owners
    {
        get
        {
            string[] pending;
            lock (_gate)
            {
                pending = _deferred.Select(d => d.Owner).ToArray();
            }

            return Volatile.Read(ref _entries).Select(e => e.Owner).Concat(pending).ToArray();
        }
    }

    private void Remove(Entry entry)
    {
        lock (_gate)
        {
            Publish(_entries.Where(e => !ReferenceEquals(e, entry)));
        }

        Changed?.Invoke();
    }

    private void Publish(IEnumerable<Entry> entries)
    {
        var sorted = entries.OrderBy(e => e.Order).ThenBy(e => e.Sequence).ToArray();
        Volatile.Write(ref _entries, sorted);
        Volatile.Write(ref _measuresDuration, sorted.Any(e => e.MeasuresDuration));
        Volatile.Write(ref _handlers, sorted.Select(e => e.Handler).ToArray());
    }

    private sealed record Entry(THandler Handler, int Order, string Owner, int Sequence, bool MeasuresDuration);

    private sealed class Deferred : IDisposable
    {
        private readonly HandlerPipeline<THandler> _pipeline;
        private IDisposable? _subscription;
        private bool _disposed;

        public Deferred(HandlerPipeline<THandler> pipeline, Func<THandler> create, int order, string owner, bool measuresDuration)
        {
            _pipeline = pipeline;
            Create = create;
            Order = order;
            Owner = owner;
            MeasuresDuration = measuresDuration;
        }

        public Func<THandler> Create { get; }

        public int Order { get; }

        public string Owner { get; }

        public bool MeasuresDuration { get; }

        public void Attach(IDisposable subscription)
        {
            bool disposed;
            lock (_pipeline._gate)
            {
                disposed = _disposed;
                _subscription = disposed ? null : subscription;
            }

            if (disposed)
            {
                subscription.Dispose();
            }
        }

        public void Dispose()
        {
            IDisposable? subscription;
            lock (_pipeline._gate)
            {
                _disposed = true;
                _pipeline._deferred.Remove(this);
                subscription = _subscription;
                _subscription = null;
            }

            subscription?.Dispose();
        }
    }

    private sealed class Subscription : IDisposable
    {
        private HandlerPipeline<THandler>? _pipeline;
        private readonly Entry _entry;

        public Subscription(HandlerPipeline<THandler> pipeline, Entry entry)
        {
            _pipeline = pipeline;
            _entry = entry;
        }

        public void Dispose() => Interlocked.Exchange(ref _pipeline, null)?.Remove(_entry);
    }
}

/// <summary>The three interception points. One instance per process, owned by the agent core.</summary>
public sealed class InterceptionHub
{
    public HandlerPipeline<IInboundHandler> Inbound { get; } = new("inbound");

    public HandlerPipeline<IOutboundHandler> Outbound { get; } = new("outbound");

    public HandlerPipeline<ISqlHandler> Sql { get; } = new("sql");

    /// <summary>The web host's startup and shutdown (for lossless online/offline).</summary>
    public HostLifecycle Host { get; } = new();

    /// <summary>Closed while the agent starts plugins alongside the app: intercepted calls wait for it.</summary>
    public StartupGate Startup { get; } = new();
}
