using Governor.Interception;

namespace Governor.Plugins.AdoNet;

/// <summary>
/// Provides the <c>sql</c> interception point: every command execution of every ADO.NET provider
/// in the process, by detouring the providers' own methods through the patch engine. Without the
/// patch engine there is no hook for ADO.NET (System.Data.Common raises no events for commands),
/// so the plugin then only reports that SQL is not intercepted.
/// Settings: <c>plugins:adonet:readerTimeout</c> (default 10m), how long an execution may wait
/// for its reader to close before its outcome is delivered anyway.
/// </summary>
public sealed class AdoNetPlugin : IGovernorPlugin
{
    private IPluginContext? _context;
    private SqlRuntime? _runtime;
    private ProviderScanner? _scanner;

    public void Start(IPluginContext context)
    {
        _context = context;
        var pipeline = context.Interception.Sql;
        if (context.Patching is not { } engine)
        {
            string detail = $"not intercepting SQL: patching is unavailable ({context.PatchingUnavailableReason}); ADO.NET has no other hook";
            pipeline.SetProvider(null);
            context.SetDetail(detail);
            context.Logger.Warn("{Detail}", detail);
            return;
        }

        var runtime = new SqlRuntime(pipeline, context.Logger, context.Settings.GetDuration("readerTimeout", TimeSpan.FromMinutes(10))) { Startup = context.Interception.Startup };
        SqlRuntime.Activate(runtime);
        _runtime = runtime;
        context.RegisterStatus(runtime);
        var scanner = new ProviderScanner(engine, context.PluginName, context.Logger);
        scanner.Changed += () => Describe(context, scanner);
        _scanner = scanner;
        scanner.Start();
        Describe(context, scanner);
        pipeline.SetProvider(context.PluginName, "provider DbCommand/DbDataReader method detours: handlers see every execution (sync and async, direct, Dapper, EF Core), can fail a command before it reaches the database, and see its outcome including errors raised while reading");
    }

    public void Stop()
    {
        SqlRuntime.Activate(null);
        _scanner?.Dispose();
        _scanner = null;
        _runtime?.Dispose();
        _runtime = null;
        _context?.Interception.Sql.SetProvider(null);
    }

    private static void Describe(IPluginContext context, ProviderScanner scanner)
    {
        var patched = scanner.Patched;
        var failures = scanner.Failures;
        var types = patched.Select(p => p[..p.LastIndexOf('.', p.IndexOf('(', StringComparison.Ordinal))]).Distinct(StringComparer.Ordinal).ToArray();
        string detail = types.Length == 0
            ? "intercepting SQL: no ADO.NET provider loaded yet (providers are patched when their assembly loads)"
            : $"intercepting SQL: {patched.Count} methods of {string.Join(", ", types)}";
        if (failures.Count > 0)
        {
            detail += $"; {failures.Count} not interceptable: {string.Join("; ", failures)}";
        }

        context.SetDetail(detail);
    }
}
