namespace Governor.Core.Settings;

/// <summary>A plugin's view of the settings: keys under <c>plugins:&lt;name&gt;:</c>.</summary>
internal sealed class PluginSettings : IPluginSettings
{
    private readonly SettingsReader _reader;
    private readonly string _prefix;

    public PluginSettings(SettingsReader reader, string pluginName)
    {
        _reader = reader;
        _prefix = $"plugins:{pluginName}:";
    }

    public string? GetString(string key) => _reader.GetString(_prefix + key);

    public bool GetBool(string key, bool defaultValue) => _reader.GetBool(_prefix + key, defaultValue);

    public int GetInt(string key, int defaultValue, int min = int.MinValue, int max = int.MaxValue) => _reader.GetInt(_prefix + key, defaultValue, min, max);

    public double GetDouble(string key, double defaultValue, double min = double.MinValue, double max = double.MaxValue) => _reader.GetDouble(_prefix + key, defaultValue, min, max);

    public TimeSpan GetDuration(string key, TimeSpan defaultValue) => _reader.GetDuration(_prefix + key, defaultValue);

    public string GetChoice(string key, string defaultValue, params string[] allowed) => _reader.GetChoice(_prefix + key, defaultValue, allowed);

    public IReadOnlyList<string> GetList(string key) => _reader.GetList(_prefix + key);

    public string? GetGlobal(string key) => _reader.GetString(key);
}
