using System.Text.Json;
using Governor.Injector;

try
{
    await using var app = InjectorApp.Build(args);
    await app.RunAsync();
    return 0;
}
catch (InjectorConfigurationException ex)
{
    // A bad setting: one JSON log line like the others, then a non-zero exit.
    Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["Timestamp"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
        ["LogLevel"] = "Critical",
        ["Category"] = "Governor.Injector",
        ["Message"] = ex.Message,
    }));
    return 2;
}
