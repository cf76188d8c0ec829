using System.Reflection;
using Governor.Patching.Native;

namespace Governor.Patching.TestApp;

/// <summary>Prints one RESULT line per check: name, ok, counters.</summary>
internal sealed class Report
{
    private readonly string _scenario;
    private bool _allOk = true;

    public Report(string scenario) => _scenario = scenario;

    public bool Check(string check, bool ok, string detail)
    {
        _allOk &= ok;
        Console.WriteLine($"RESULT {_scenario}.{check} ok={ok} {detail}");
        return ok;
    }

    public bool Done() => _allOk;

    /// <summary>Redirected compilations and skipped OSR compilations of a target (from the engine's native state).</summary>
    public static unsafe string Tiering(MethodBase method)
    {
        var state = TargetTable.Find(CompiledHandle(method));
        return state == null ? "substitutions=0 osrSkips=0" : $"substitutions={state->Substitutions} osrSkips={state->OsrSkips} declined={state->DeclinedTierUps} slots={state->LastSlot + 1}";
    }

    public static unsafe long Substitutions(MethodBase method)
    {
        var state = TargetTable.Find(CompiledHandle(method));
        return state == null ? 0 : state->Substitutions;
    }

    /// <summary>The handle the engine keys a target by (for shared generic code, the shared method's).</summary>
    private static nint CompiledHandle(MethodBase method) => Governor.Patching.Emit.TargetSignature.Create(method).CompiledHandle.Value;
}
