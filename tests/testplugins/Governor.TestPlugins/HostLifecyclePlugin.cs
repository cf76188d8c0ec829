using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Watches the web host's lifecycle and writes what it sees, one line per event with a Unix
/// millisecond time, to <c>plugins:&lt;name&gt;:file</c>: "started" (service provider type and
/// server addresses), "stopping", "gate-begin", "gate-end". Adds a stop gate of
/// <c>gateMs</c> (default 1000) and asks for <c>minShutdown</c> as the minimum shutdown timeout.
/// </summary>
public sealed class HostLifecyclePlugin : IGovernorPlugin
{
    private readonly object _gate = new();
    private string _file = string.Empty;
    private IDisposable? _stopGate;

    public void Start(IPluginContext context)
    {
        var host = context.Interception.Host;
        _file = context.Settings.GetString("file") ?? Path.Combine(context.Agent.LogDirectory, $"lifecycle-{context.Agent.ProcessId}.txt");
        int gateMs = context.Settings.GetInt("gateMs", 1000, 0, 60_000);
        host.MinimumShutdownTimeout = context.Settings.GetDuration("minShutdown", TimeSpan.FromSeconds(10));
        host.Started += services => Write($"started services={services.GetType().FullName} self={services.GetService(typeof(IServiceProvider)) is not null} addresses={string.Join(",", host.ServerAddresses)} provider={host.Provider}");
        host.Stopping += () => Write($"stopping isStopping={host.IsStopping}");
        _stopGate = host.AddStopGate(context.PluginName, 0, async token =>
        {
            Write("gate-begin");
            await Task.Delay(gateMs, token).ConfigureAwait(false);
            Write("gate-end");
        });
    }

    public void Stop() => _stopGate?.Dispose();

    private void Write(string line)
    {
        lock (_gate)
        {
            File.AppendAllText(_file, $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {line}{Environment.NewLine}");
        }
    }
}
