using Mono.Cecil;
using Serilog;
using YamlDotNet.Serialization;

// Uses its own (older) copies of libraries the agent also uses, and reports which versions ran.
var logPath = Path.Combine(Path.GetTempPath(), $"conflict-app-{Environment.ProcessId}.log");
var log = new LoggerConfiguration().WriteTo.File(logPath).CreateLogger();

var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();

app.MapGet("/", () => "hello");
app.MapGet("/conflict", () =>
{
    log.Information("app log line {N}", 42);
    var data = new DeserializerBuilder().Build().Deserialize<Dictionary<string, int>>("a: 1\nb: 2\n");
    using var module = ModuleDefinition.ReadModule(typeof(Program).Assembly.Location);
    return string.Join('\n',
        $"serilog={typeof(Log).Assembly.GetName().Version}",
        $"yaml={typeof(Deserializer).Assembly.GetName().Version} sum={data["a"] + data["b"]}",
        $"cecil={typeof(ModuleDefinition).Assembly.GetName().Version} types={module.Types.Count}",
        $"logfile={File.Exists(logPath)}");
});

app.Run();
