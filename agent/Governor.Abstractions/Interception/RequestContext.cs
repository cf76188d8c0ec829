namespace Governor.Interception;

/// <summary>
/// What travels with one inbound request to the outbound calls and SQL commands it causes,
/// across <c>await</c>, <c>Task.Run</c>, the thread pool and timers (wherever .NET's
/// ExecutionContext flows). Carried by an <see cref="AsyncLocal{T}"/>; calls made outside any
/// request see <see cref="Current"/> == null.
/// </summary>
public sealed class RequestContext
{
    private static readonly AsyncLocal<RequestContext?> s_current = new();
    private KeyValuePair<string, string>[]? _baggage;
    private object?[]? _items;

    /// <summary>The context of the request this code runs for, or null.</summary>
    public static RequestContext? Current => s_current.Value;

    /// <summary>Makes <paramref name="context"/> current for this flow (providers only).</summary>
    public static void SetCurrent(RequestContext? context) => s_current.Value = context;

    /// <summary>The traffic label (gray lane) of this request; null means base.</summary>
    public string? TrafficLabel { get; set; }

    /// <summary>The resource name of the inbound request (e.g. "/orders"), set by the inbound provider.</summary>
    public string? InboundResource { get; set; }

    /// <summary>Extra W3C baggage entries to propagate (besides the traffic label).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Baggage => _baggage ?? Array.Empty<KeyValuePair<string, string>>();

    public void AddBaggage(string key, string value)
    {
        var old = _baggage ?? Array.Empty<KeyValuePair<string, string>>();
        var copy = new KeyValuePair<string, string>[old.Length + 1];
        old.CopyTo(copy, 0);
        copy[^1] = new KeyValuePair<string, string>(key, value);
        _baggage = copy;
    }

    /// <summary>A typed value a plugin attached to this request.</summary>
    public T? Get<T>(ContextKey<T> key) => _items is { } items && key.Index < items.Length && items[key.Index] is T value ? value : default;

    public void Set<T>(ContextKey<T> key, T? value)
    {
        var items = _items;
        if (items is null || key.Index >= items.Length)
        {
            Array.Resize(ref items, Math.Max(key.Index + 1, 4));
            _items = items;
        }

        items[key.Index] = value;
    }
}

/// <summary>A typed key for <see cref="RequestContext.Get{T}"/>; create one per plugin value, once.</summary>
public sealed class ContextKey<T>
{
    public ContextKey(string name)
    {
        Name = name;
        Index = ContextKeyCounter.Next();
    }

    public string Name { get; }

    internal int Index { get; }

    public override string ToString() => Name;
}

internal static class ContextKeyCounter
{
    private static int s_next = -1;

    public static int Next() => Interlocked.Increment(ref s_next);
}
