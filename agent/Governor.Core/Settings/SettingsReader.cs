using System.Globalization;
using Governor.Rules;

namespace Governor.Core.Settings;

/// <summary>
/// Typed reads over a <see cref="SettingsStore"/>. A value that does not parse is reported once
/// with its key, its source and the accepted values, and the default is used: bad settings
/// never stop the app.
/// </summary>
internal sealed class SettingsReader
{
    private readonly Func<SettingsStore> _store;
    private readonly Action<string> _warn;
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    public SettingsReader(Func<SettingsStore> store, Action<string> warn)
    {
        _store = store;
        _warn = warn;
    }

    public SettingsStore Store => _store();

    public string? GetString(string key) => _store().Get(key)?.Value;

    public bool GetBool(string key, bool defaultValue)
    {
        var s = _store().Get(key);
        if (s is null)
        {
            return defaultValue;
        }

        if (TryParseBool(s.Value, out bool value))
        {
            return value;
        }

        Warn(s, "true or false", defaultValue ? "true" : "false");
        return defaultValue;
    }

    public int GetInt(string key, int defaultValue, int min, int max)
    {
        var s = _store().Get(key);
        if (s is null)
        {
            return defaultValue;
        }

        if (int.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
        {
            return value;
        }

        Warn(s, RangeText(min, max, "a whole number"), defaultValue.ToString(CultureInfo.InvariantCulture));
        return defaultValue;
    }

    public double GetDouble(string key, double defaultValue, double min, double max)
    {
        var s = _store().Get(key);
        if (s is null)
        {
            return defaultValue;
        }

        if (double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && !double.IsNaN(value) && value >= min && value <= max)
        {
            return value;
        }

        Warn(s, RangeText(min, max, "a number"), defaultValue.ToString(CultureInfo.InvariantCulture));
        return defaultValue;
    }

    public TimeSpan GetDuration(string key, TimeSpan defaultValue)
    {
        var s = _store().Get(key);
        if (s is null)
        {
            return defaultValue;
        }

        if (SpecReader.TryParseDuration(s.Value, TimeSpan.FromSeconds(1), out var value))
        {
            return value;
        }

        Warn(s, "a duration such as 500ms, 5s, 2m or a number of seconds", $"{defaultValue.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s");
        return defaultValue;
    }

    public string GetChoice(string key, string defaultValue, string[] allowed)
    {
        var s = _store().Get(key);
        if (s is null)
        {
            return defaultValue;
        }

        foreach (string a in allowed)
        {
            if (string.Equals(a, s.Value.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return a;
            }
        }

        Warn(s, "one of " + string.Join(", ", allowed), defaultValue);
        return defaultValue;
    }

    public IReadOnlyList<string> GetList(string key)
    {
        var s = _store().Get(key);
        return s is null ? Array.Empty<string>() : SplitList(s.Value);
    }

    public static IReadOnlyList<string> SplitList(string value) =>
        value.Split(new[] { ',', ';', ' ' }, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static bool TryParseBool(string text, out bool value)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "on" or "yes" or "enabled":
                value = true;
                return true;
            case "false" or "0" or "off" or "no" or "disabled":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    private void Warn(Setting s, string accepted, string defaultText)
    {
        // Report each bad value once, not on every read.
        lock (_warned)
        {
            if (!_warned.Add($"{s.Source}={s.Value}"))
            {
                return;
            }
        }

        _warn($"Setting governor:{s.Key} = '{s.Value}' (from {s.Source}) is not valid: use {accepted}. Using the default ({defaultText}).");
    }

    private static string RangeText(double min, double max, string what)
    {
        bool hasMin = min > int.MinValue && min > double.MinValue;
        bool hasMax = max < int.MaxValue && max < double.MaxValue;
        string m = min.ToString(CultureInfo.InvariantCulture);
        string x = max.ToString(CultureInfo.InvariantCulture);
        return hasMin && hasMax ? $"{what} from {m} to {x}" : hasMin ? $"{what} of at least {m}" : hasMax ? $"{what} of at most {x}" : what;
    }
}
