using System.Net.Http.Headers;
using Governor.Interception;
using Governor.Plugins.Gray.Labeling;

namespace Governor.Plugins.Gray.Propagation;

/// <summary>
/// Reads and writes the label's carriers: the W3C <c>baggage</c> entry <c>OpenSergo-Label</c>
/// (OpenSergo's carrier, which tracing systems already forward) and a plain header
/// (<c>x-governor-tag</c> by default; <c>x-mse-tag</c> is accepted on the way in). Writing merges
/// with a <c>baggage</c> header that is already there (from the app or from the runtime's
/// distributed tracing), replacing only our entry, and leaves every other entry as it was.
/// </summary>
internal sealed class LabelCarrier
{
    public const string BaggageHeader = "baggage";
    public const string BaggageKey = "OpenSergo-Label";

    private readonly string _header;
    private readonly string[] _inputHeaders;
    private volatile string[] _knownLabels = Array.Empty<string>();
    private volatile Entry? _lastEntry;

    public LabelCarrier(string header, IReadOnlyList<string> acceptHeaders)
    {
        _header = header;
        _inputHeaders = new[] { header }.Concat(acceptHeaders).ToArray();
    }

    /// <summary>The labels the rules know (set on every rule change): labels read from baggage resolve to these strings.</summary>
    public IReadOnlyList<string> KnownLabels
    {
        get => _knownLabels;
        set => _knownLabels = value.ToArray();
    }

    public string Header => _header;

    public IReadOnlyList<string> InputHeaders => _inputHeaders;

    /// <summary>
    /// The label a request arrived with: the plain headers first, then the baggage entry.
    /// <paramref name="present"/> is true when any carrier was there, valid or not.
    /// </summary>
    public string? ReadInbound(InboundCall call, out bool present)
    {
        present = false;
        foreach (string name in _inputHeaders)
        {
            string? value = call.GetHeader(name);
            if (value is not null)
            {
                present = true;
                if (LabelText.IsValid(value))
                {
                    return value;
                }
            }
        }

        string? baggage = call.GetHeader(BaggageHeader);
        if (baggage is not null && TryFindBaggageLabel(baggage, out var label))
        {
            present = true;
            return LabelText.IsValid(label) ? Intern(label) : null;
        }

        return null;
    }

    /// <summary>
    /// A label the app itself put on an outbound request (it labels traffic by its own logic, or
    /// forwards headers): the plain headers first, then the baggage entry. One pass over the
    /// request's headers, comparing names; a request without headers is not even looked at (asking
    /// for <see cref="HttpRequestMessage.Headers"/> would create an empty collection).
    /// </summary>
    public string? ReadOutbound(HttpRequestMessage request)
    {
        if (!RequestHeaders.Exist(request))
        {
            return null;
        }

        string? plain = null;
        int plainRank = int.MaxValue;
        string? baggage = null;
        var inputs = _inputHeaders;
        foreach (var header in request.Headers.NonValidated)
        {
            string name = header.Key;
            if (name.Length == BaggageHeader.Length && string.Equals(name, BaggageHeader, StringComparison.OrdinalIgnoreCase))
            {
                foreach (string value in header.Value)
                {
                    if (baggage is null && TryFindBaggageLabel(value, out var found) && LabelText.IsValid(found))
                    {
                        baggage = Intern(found);
                    }
                }

                continue;
            }

            for (int i = 0; i < inputs.Length && i < plainRank; i++)
            {
                if (name.Length == inputs[i].Length && string.Equals(name, inputs[i], StringComparison.OrdinalIgnoreCase))
                {
                    foreach (string value in header.Value)
                    {
                        if (LabelText.IsValid(value))
                        {
                            plain = value;
                            plainRank = i;
                            break;
                        }
                    }

                    break;
                }
            }
        }

        return plain ?? baggage;
    }

    /// <summary>Puts <paramref name="label"/> on the request: the plain header and the baggage entry, replacing other values of either.</summary>
    public void Write(HttpRequestMessage request, string label)
    {
        var headers = request.Headers;
        if (headers.NonValidated.TryGetValues(_header, out var current))
        {
            if (current.Count != 1 || !string.Equals(First(current), label, StringComparison.Ordinal))
            {
                headers.Remove(_header);
                headers.TryAddWithoutValidation(_header, label);
            }
        }
        else
        {
            headers.TryAddWithoutValidation(_header, label);
        }

        if (!headers.NonValidated.TryGetValues(BaggageHeader, out var baggage))
        {
            // HttpClient's tracing adds its baggage only to a request without one: carry it along.
            string? tracing = TracingBaggage.Current();
            headers.TryAddWithoutValidation(BaggageHeader, tracing is null ? EntryFor(label) : MergeBaggage(tracing, label, alone: true) ?? tracing);
            return;
        }

        string? merged = MergeBaggage(Join(baggage), label, baggage.Count == 1);
        if (merged is not null)
        {
            headers.Remove(BaggageHeader);
            headers.TryAddWithoutValidation(BaggageHeader, merged);
        }
    }

    /// <summary>
    /// Removes every label carrier from the request: an untrusted label the app forwarded (by
    /// copying the incoming headers) must not reach services that trust what they receive.
    /// </summary>
    public void Strip(HttpRequestMessage request)
    {
        if (!RequestHeaders.Exist(request))
        {
            return;
        }

        var headers = request.Headers;
        foreach (string name in _inputHeaders)
        {
            headers.Remove(name);
        }

        // The inbound handler removed a forged label from the tracing baggage already (see
        // TracingBaggage.RemoveLabel); here only the headers the app copied remain.
        if (headers.NonValidated.TryGetValues(BaggageHeader, out var baggage))
        {
            string joined = Join(baggage);
            string rest = RemoveEntry(joined);
            if (!ReferenceEquals(rest, joined))
            {
                headers.Remove(BaggageHeader);
                if (rest.Length != 0)
                {
                    headers.TryAddWithoutValidation(BaggageHeader, rest);
                }
            }
        }
    }

    /// <summary>
    /// The value of the <c>OpenSergo-Label</c> member of a W3C baggage list
    /// (<c>k1=v1;prop, OpenSergo-Label=gray</c>), without its properties and whitespace.
    /// </summary>
    public static bool TryFindBaggageLabel(string baggage, out ReadOnlySpan<char> label)
    {
        var rest = baggage.AsSpan();
        while (!rest.IsEmpty)
        {
            int comma = rest.IndexOf(',');
            var member = comma < 0 ? rest : rest[..comma];
            rest = comma < 0 ? ReadOnlySpan<char>.Empty : rest[(comma + 1)..];
            int equals = member.IndexOf('=');
            if (equals < 0)
            {
                continue;
            }

            if (member[..equals].Trim().Equals(BaggageKey, StringComparison.OrdinalIgnoreCase))
            {
                var value = member[(equals + 1)..];
                int semicolon = value.IndexOf(';');
                label = (semicolon < 0 ? value : value[..semicolon]).Trim();
                return true;
            }
        }

        label = default;
        return false;
    }

    /// <summary>The baggage list with our entry set to <paramref name="label"/>, or null when it already is.</summary>
    /// <param name="joined">The existing list (several headers joined with ',').</param>
    /// <param name="alone">False when the list came from several headers, which must become one even if our member is already right.</param>
    internal string? MergeBaggage(string joined, string label, bool alone)
    {
        if (TryFindBaggageLabel(joined, out var existing))
        {
            if (existing.SequenceEqual(label.AsSpan()) && alone)
            {
                return null;
            }

            joined = RemoveEntry(joined);
        }

        return joined.Length == 0 ? EntryFor(label) : string.Concat(joined, ",", EntryFor(label));
    }

    /// <summary>The baggage member for a label, "OpenSergo-Label=gray"; remembered for the label used last.</summary>
    internal string EntryFor(string label)
    {
        var last = _lastEntry;
        if (last is not null && (ReferenceEquals(last.Label, label) || string.Equals(last.Label, label, StringComparison.Ordinal)))
        {
            return last.Text;
        }

        last = new Entry(label, BaggageKey + "=" + label);
        _lastEntry = last;
        return last.Text;
    }

    /// <summary>The list without any OpenSergo-Label member (the same instance when there was none).</summary>
    private static string RemoveEntry(string baggage)
    {
        if (!TryFindBaggageLabel(baggage, out _))
        {
            return baggage;
        }

        var kept = new List<string>();
        foreach (string member in baggage.Split(','))
        {
            var trimmed = member.AsSpan().Trim();
            int equals = trimmed.IndexOf('=');
            if (trimmed.IsEmpty || (equals >= 0 && trimmed[..equals].Trim().Equals(BaggageKey, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            kept.Add(trimmed.ToString());
        }

        return string.Join(",", kept);
    }

    private static string Join(HeaderStringValues values) => values.Count == 1 ? First(values) : string.Join(",", values);

    private static string First(HeaderStringValues values)
    {
        foreach (string value in values)
        {
            return value;
        }

        return string.Empty;
    }

    /// <summary>Returns the rule's own string for a known label, so labels read from baggage do not allocate.</summary>
    private string Intern(ReadOnlySpan<char> label)
    {
        foreach (string known in _knownLabels)
        {
            if (label.SequenceEqual(known.AsSpan()))
            {
                return known;
            }
        }

        return label.ToString();
    }

    private sealed record Entry(string Label, string Text);
}
