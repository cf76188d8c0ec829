namespace Governor.Interception;

/// <summary>
/// A small lock-free pool for the per-call objects interception plugins hand to handlers (each
/// carries a <see cref="HandlerPipeline{THandler}.MaxHandlers"/>-slot state array, too much to
/// allocate per call). A call that completes on the thread that rented it is served by a
/// one-item per-thread cache with no interlocked operation; otherwise renting and returning are a
/// few compare-exchanges over a fixed array. An empty pool creates a new object; a full pool
/// drops the returned one. Callers reset an object before returning it.
/// </summary>
public sealed class CallPool<T>
    where T : class, new()
{
    [ThreadStatic]
    private static T? t_cached;

    private readonly T?[] _items;

    public CallPool(int size)
    {
        _items = new T?[Math.Max(1, size)];
    }

    public T Rent()
    {
        var item = t_cached;
        if (item is not null)
        {
            t_cached = null;
            return item;
        }

        var items = _items;
        for (int i = 0; i < items.Length; i++)
        {
            item = Volatile.Read(ref items[i]);
            if (item is not null && Interlocked.CompareExchange(ref items[i], null, item) == item)
            {
                return item;
            }
        }

        return new T();
    }

    public void Return(T item)
    {
        if (t_cached is null)
        {
            t_cached = item;
            return;
        }

        var items = _items;
        for (int i = 0; i < items.Length; i++)
        {
            if (Volatile.Read(ref items[i]) is null && Interlocked.CompareExchange(ref items[i], item, null) is null)
            {
                return;
            }
        }
    }
}
