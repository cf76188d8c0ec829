using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Process;

/// <summary>
/// The plugin as the agent loads it from the agent home into its own AssemblyLoadContext, in a
/// real app process. (Commands reach it once the ADO.NET interception plugin feeds the sql point;
/// those end-to-end tests come with it.)
/// </summary>
public sealed class AgentProcessTests
{
    private const string Rules = """
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: CircuitBreakerStrategy
        metadata:
          name: slow-sql
        spec:
          strategy: SlowRequestRatio
          triggerRatio: '50%'
          recoveryTimeout: 5s
          slowConditions:
            maxAllowedRt: 100ms
        ---
        apiVersion: fault-tolerance.opensergo.io/v1alpha1
        kind: FaultToleranceRule
        metadata:
          name: guard-sql
        spec:
          targets:
            - targetResourceName: 'sql:*'
          strategies:
            - name: slow-sql
        """;

    [Fact]
    public void Agent_SqlGuardInHome_StartsSubscribesAndValidatesAndReloadsItsRules()
    {
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var home = new AgentHomeCopy();
        home.WriteRule("sql.yaml", Rules);
        home.WriteRule("broken.yaml", "apiVersion: fault-tolerance.opensergo.io/v1alpha1\nkind: CircuitBreakerStrategy\nmetadata:\n  name: broken\nspec:\n  strategy: SlowRequestRatio\n  triggerRatio: 0.5\n  recoveryTimeout: 1s\n");
        int port = AppProcess.FreePort();

        using var process = AppProcess.StartWeb(app, port, home.Environment());

        var statusFile = home.Status(process.Id);
        var status = statusFile.WaitFor(s => Detail(s)?.StartsWith("1 breaker rule(s)", StringComparison.Ordinal) == true, what: "sqlguard started with one rule");
        Assert.Equal("Started", StatusFile.PluginState(status, "sqlguard"));
        var sql = status.GetProperty("interception").EnumerateArray().Single(p => p.GetProperty("point").GetString() == "sql");
        Assert.Contains("sqlguard", sql.GetProperty("handlers").EnumerateArray().Select(h => h.GetString()));
        string error = Assert.Single(status.GetProperty("rules").GetProperty("errors").EnumerateArray().Select(e => e.GetString()!));
        Assert.Contains("broken.yaml:6: spec.slowConditions: is required", error);

        // Hot reload: a second rule arrives without a restart.
        home.WriteRule("more.yaml", Rules.Replace("name: slow-sql", "name: slow-sql-2", StringComparison.Ordinal).Replace("name: guard-sql", "name: guard-sql-2", StringComparison.Ordinal));
        statusFile.WaitFor(s => Detail(s)?.StartsWith("2 breaker rule(s)", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(15), "sqlguard with two rules");
    }

    private static string? Detail(JsonElement status) => StatusFile.Plugin(status, "sqlguard") is { } p && p.TryGetProperty("detail", out var d) ? d.GetString() : null;
}
