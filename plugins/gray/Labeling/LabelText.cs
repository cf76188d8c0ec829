namespace Governor.Plugins.Gray.Labeling;

/// <summary>
/// What a label may look like. Labels end up in header values, in W3C baggage (where anything
/// else would need percent-encoding) and, for the one-Service-per-lane convention, inside DNS
/// names, so they are kept to a small safe alphabet. A label that arrives from outside in a header
/// and does not fit is ignored rather than propagated.
/// </summary>
internal static class LabelText
{
    /// <summary>The longest label accepted (a DNS label's limit).</summary>
    public const int MaxLength = 63;

    /// <summary>The OpenSergo name of the base lane in a workload selector (<c>tag: _base</c>).</summary>
    public const string Base = "_base";

    /// <summary>Letters, digits, '-', '_' and '.', 1 to 63 characters.</summary>
    public static bool IsValid(string? label) => label is not null && IsValid(label.AsSpan());

    public static bool IsValid(ReadOnlySpan<char> label)
    {
        if (label.Length is 0 or > MaxLength)
        {
            return false;
        }

        foreach (char c in label)
        {
            if (!IsLabelChar(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when the label can be part of a DNS name (letters, digits and '-' only, no leading or trailing '-').</summary>
    public static bool IsDnsSafe(string label)
    {
        if (label.Length == 0 || label[0] == '-' || label[^1] == '-')
        {
            return false;
        }

        foreach (char c in label)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsLabelChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.';
}
