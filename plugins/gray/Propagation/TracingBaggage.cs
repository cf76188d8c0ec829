using System.Diagnostics;

namespace Governor.Plugins.Gray.Propagation;

/// <summary>
/// The baggage of the app's distributed tracing (<see cref="Activity.Baggage"/>), which .NET's
/// HttpClient writes into the <c>baggage</c> header itself (the W3C propagator, the default since
/// .NET 10) — but only when the request has no <c>baggage</c> header yet. The outbound handler
/// runs before that step, so when it adds the label's header it must carry the tracing baggage
/// along, or the app's own baggage would be lost. And a label that arrived from outside where it
/// is not trusted must also leave the tracing baggage, or HttpClient would forward it.
/// </summary>
internal static class TracingBaggage
{
    private const string Field = "baggage";

    /// <summary>The <c>baggage</c> value the tracing propagator would write for the current activity, or null.</summary>
    public static string? Current()
    {
        var activity = Activity.Current;
        if (activity is null || !HasItems(activity))
        {
            return null;
        }

        var capture = new Capture();
        DistributedContextPropagator.Current.Inject(activity, capture, static (carrier, field, value) =>
        {
            if (carrier is Capture c && string.Equals(field, Field, StringComparison.OrdinalIgnoreCase))
            {
                c.Value = value;
            }
        });
        return string.IsNullOrWhiteSpace(capture.Value) ? null : capture.Value;
    }

    /// <summary>Removes every <c>OpenSergo-Label</c> item (any case) from the current activity and its parents.</summary>
    public static void RemoveLabel()
    {
        var activity = Activity.Current;
        if (activity is null || !HasItems(activity))
        {
            return;
        }

        List<string>? keys = null;
        foreach (var item in activity.Baggage)
        {
            if (string.Equals(item.Key, LabelCarrier.BaggageKey, StringComparison.OrdinalIgnoreCase))
            {
                (keys ??= new List<string>()).Add(item.Key);
            }
        }

        if (keys is null)
        {
            return;
        }

        for (var a = activity; a is not null; a = a.Parent)
        {
            foreach (string key in keys)
            {
                // Setting null removes the item (this activity's own list only, hence the walk).
                a.SetBaggage(key, null);
            }
        }
    }

    /// <summary>
    /// Whether the activity chain has baggage. Without any, <see cref="Activity.Baggage"/> is an
    /// empty array whose enumerator is shared: nothing is allocated on the common path.
    /// </summary>
    private static bool HasItems(Activity activity)
    {
        foreach (var unused in activity.Baggage)
        {
            return true;
        }

        return false;
    }

    private sealed class Capture
    {
        public string? Value { get; set; }
    }
}
