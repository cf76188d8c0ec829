using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Patching;
using Governor.Plugins.AdoNet;
using Microsoft.Data.Sqlite;

namespace Governor.Benchmarks.Interception;

/// <summary>
/// <c>ExecuteScalar("SELECT 1")</c> on an in-memory SQLite database, end to end: unpatched, with
/// the adonet plugin's detours installed by the patch engine and no handler, and with one no-op
/// handler. Each mode runs in its own process (BenchmarkDotNet's default), so the unpatched mode
/// never sees the JIT hook.
/// </summary>
[MemoryDiagnoser]
public class SqliteExecuteBenchmarks
{
    private readonly HandlerPipeline<ISqlHandler> _pipeline = new("sql");
    private SqliteConnection _connection = null!;
    private SqliteCommand _command = null!;
    private IDisposable? _scanner;

    [Params("unpatched", "patched, no handler", "patched, 1 no-op handler")]
    public string Mode { get; set; } = "unpatched";

    [GlobalSetup]
    public void Setup()
    {
        if (Mode != "unpatched")
        {
            var engine = PatchEngineBootstrap.TryInitialize(new PatchEngineOptions(), (_, _) => { }, out string? reason)
                ?? throw new InvalidOperationException($"patching unavailable: {reason}");
            SqlRuntime.Activate(new SqlRuntime(_pipeline, NullLog.Instance, TimeSpan.FromMinutes(10)));
            var scanner = new ProviderScanner(engine, "bench", NullLog.Instance);
            scanner.Start();
            _scanner = scanner;
            if (scanner.Patched.Count == 0)
            {
                throw new InvalidOperationException("nothing patched");
            }

            if (Mode.Contains("handler", StringComparison.Ordinal))
            {
                _pipeline.Subscribe(new NoOp(), 0, "bench", measuresDuration: false);
            }
        }

        _connection = new SqliteConnection("Data Source=:memory:");
        _connection.Open();
        _command = _connection.CreateCommand();
        _command.CommandText = "SELECT 1";
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _command.Dispose();
        _connection.Dispose();
        _scanner?.Dispose();
    }

    [Benchmark(Description = "SqliteCommand.ExecuteScalar (in-memory, SELECT 1)")]
    public object? ExecuteScalar() => _command.ExecuteScalar();

    private sealed class NoOp : ISqlHandler
    {
        public Exception? OnExecuting(SqlCall call) => null;

        public void OnExecuted(SqlCall call, in SqlOutcome outcome)
        {
        }
    }
}
