using System.Data.Common;
using BenchmarkDotNet.Attributes;
using Governor.Interception;
using Governor.Plugins.AdoNet;
using Microsoft.Data.Sqlite;

namespace Governor.Benchmarks.Interception;

/// <summary>
/// What the adonet plugin adds to a command execution, driven through the real replacement of
/// <c>DbCommand.ExecuteNonQuery</c> overrides (<c>NonQueryDetour&lt;slot&gt;.Run</c>) with an
/// "original" that returns at once: no handler, no-op handlers without and with durations.
/// Target: a no-op handler at most 50 ns and 0 bytes per call.
/// </summary>
[MemoryDiagnoser]
public unsafe class SqlPipelineBenchmarks
{
    private readonly HandlerPipeline<ISqlHandler> _none = new("sql");
    private readonly HandlerPipeline<ISqlHandler> _one = new("sql");
    private readonly HandlerPipeline<ISqlHandler> _four = new("sql");
    private readonly HandlerPipeline<ISqlHandler> _oneWithDuration = new("sql");
    private SqliteConnection _connection = null!;
    private DbCommand _command = null!;
    private SqlRuntime _noHandler = null!;
    private SqlRuntime _oneNoOp = null!;
    private SqlRuntime _fourNoOps = null!;
    private SqlRuntime _oneNoOpWithDuration = null!;

    [GlobalSetup]
    public void Setup()
    {
        _connection = new SqliteConnection("Data Source=:memory:");
        _command = _connection.CreateCommand();
        _command.CommandText = "UPDATE stock SET quantity = quantity - 1 WHERE sku = 'SKU-042'";
        _one.Subscribe(new NoOp(), 0, "bench", measuresDuration: false);
        for (int i = 0; i < 4; i++)
        {
            _four.Subscribe(new NoOp(), i, "bench", measuresDuration: false);
        }

        _oneWithDuration.Subscribe(new NoOp(), 0, "bench", measuresDuration: true);
        var timeout = TimeSpan.FromMinutes(10);
        _noHandler = new SqlRuntime(_none, NullLog.Instance, timeout);
        _oneNoOp = new SqlRuntime(_one, NullLog.Instance, timeout);
        _fourNoOps = new SqlRuntime(_four, NullLog.Instance, timeout);
        _oneNoOpWithDuration = new SqlRuntime(_oneWithDuration, NullLog.Instance, timeout);
        NonQueryDetour<SlotEnd>.Original = (nint)(delegate*<DbCommand, int>)&Original;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        SqlRuntime.Activate(null);
        _command.Dispose();
        _connection.Dispose();
    }

    [Benchmark(Baseline = true, Description = "execute alone (no Governor)")]
    public int ExecuteAlone() => Original(_command);

    [Benchmark(Description = "sql, no handler")]
    public int NoHandler() => Run(_noHandler);

    [Benchmark(Description = "sql, 1 no-op handler")]
    public int OneNoOp() => Run(_oneNoOp);

    [Benchmark(Description = "sql, 4 no-op handlers")]
    public int FourNoOps() => Run(_fourNoOps);

    [Benchmark(Description = "sql, 1 no-op handler reading durations")]
    public int OneNoOpWithDuration() => Run(_oneNoOpWithDuration);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int Original(DbCommand command) => 1;

    private int Run(SqlRuntime runtime)
    {
        SqlRuntime.Activate(runtime);
        return NonQueryDetour<SlotEnd>.Run(_command);
    }

    private sealed class NoOp : ISqlHandler
    {
        public Exception? OnExecuting(SqlCall call) => null;

        public void OnExecuted(SqlCall call, in SqlOutcome outcome)
        {
        }
    }
}
