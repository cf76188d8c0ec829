namespace Governor;

/// <summary>
/// A plugin's settings. Keys are relative to <c>governor:plugins:&lt;name&gt;:</c> and compared
/// without regard to case, '_' or '-'. Sources, highest precedence first: the app's command
/// line (<c>--governor:plugins:throttle:observe=true</c>), environment variables
/// (<c>GOVERNOR_PLUGINS__THROTTLE__OBSERVE=true</c>), <c>governor.json</c>, then the default
/// passed here. A value that does not parse logs a warning that names the key, the source
/// and the accepted values, and the default is used.
/// </summary>
public interface IPluginSettings
{
    /// <summary>The raw value and where it came from, or null.</summary>
    string? GetString(string key);

    bool GetBool(string key, bool defaultValue);

    int GetInt(string key, int defaultValue, int min = int.MinValue, int max = int.MaxValue);

    double GetDouble(string key, double defaultValue, double min = double.MinValue, double max = double.MaxValue);

    /// <summary>Accepts "500ms", "2s", "1m", "1h" or a plain number of seconds.</summary>
    TimeSpan GetDuration(string key, TimeSpan defaultValue);

    /// <summary>One of <paramref name="allowed"/> (case-insensitive); anything else warns.</summary>
    string GetChoice(string key, string defaultValue, params string[] allowed);

    /// <summary>A comma-separated list.</summary>
    IReadOnlyList<string> GetList(string key);

    /// <summary>An agent-wide key such as <c>tag</c> or <c>log:level</c> (no plugin prefix).</summary>
    string? GetGlobal(string key);
}
