namespace Governor.Plugins.AspNetCore;

/// <summary>
/// A small lock-free pool of <see cref="HttpInboundCall"/> (each carries a 16-slot state array,
/// too much to allocate per request). A request that completes synchronously returns its call on
/// the thread that rented it, so one call cached per thread serves it with no interlocked
/// operation; otherwise rent and return are a few compare-exchanges. When the pool is empty a new
/// call is created, when it is full the returned one is dropped.
/// </summary>
internal sealed class CallPool
{
    [ThreadStatic]
    private static HttpInboundCall? t_cached;

    private readonly HttpInboundCall?[] _items;
    private HttpInboundCall? _first;

    public CallPool(int size)
    {
        _items = new HttpInboundCall?[size];
    }

    public HttpInboundCall Rent()
    {
        var item = t_cached;
        if (item is not null)
        {
            t_cached = null;
            return item;
        }

        item = _first;
        if (item is not null && Interlocked.CompareExchange(ref _first, null, item) == item)
        {
            return item;
        }

        var items = _items;
        for (int i = 0; i < items.Length; i++)
        {
            item = items[i];
            if (item is not null && Interlocked.CompareExchange(ref items[i], null, item) == item)
            {
                return item;
            }
        }

        return new HttpInboundCall();
    }

    public void Return(HttpInboundCall call)
    {
        call.Reset();
        if (t_cached is null)
        {
            t_cached = call;
            return;
        }

        if (_first is null && Interlocked.CompareExchange(ref _first, call, null) is null)
        {
            return;
        }

        var items = _items;
        for (int i = 0; i < items.Length; i++)
        {
            if (Interlocked.CompareExchange(ref items[i], call, null) is null)
            {
                return;
            }
        }
    }
}
