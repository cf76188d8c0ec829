using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;

namespace Governor.Patching.TestApp;

/// <summary>
/// Each scenario patches a target, calls it at least 100,000 times across tier-up (tier0 ->
/// instrumented -> tier1, OSR where the target loops) and reports how many calls the patch saw.
/// </summary>
internal static class Scenarios
{
    private const int Calls = 100_000;
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    public static readonly Dictionary<string, Func<IPatchEngine, Report, bool>> All = new()
    {
        ["sqlite"] = Sqlite,
        ["r2r"] = ReadyToRun,
        ["osr"] = Osr,
        ["async"] = Async,
        ["virtual"] = Virtual,
        ["threads"] = Threads,
        ["semantics"] = Semantics,
        ["alc"] = PluginLoadContext,
    };

    private static MethodInfo Patch(string name) => typeof(Patches).GetMethod(name, Any)!;

    /// <summary>An IL-only library method, patched before its first compilation.</summary>
    private static bool Sqlite(IPatchEngine engine, Report report)
    {
        var target = Type.GetType("Microsoft.Data.Sqlite.SqliteCommand, Microsoft.Data.Sqlite")!.GetMethod("ExecuteReader", new[] { typeof(CommandBehavior) })!;
        using var patch = engine.Patch(target, prefix: Patch(nameof(Patches.Count)), owner: "test");
        int calls = SqliteLoop.Run(Calls, () => Report.Substitutions(target) >= 2);
        report.Check("interception", Patches.Counter == calls && Report.Substitutions(target) >= 2, $"calls={calls} intercepted={Patches.Counter} {Report.Tiering(target)}");
        return report.Done();
    }

    /// <summary>
    /// A ReadyToRun framework method: its precompiled code is published and redirected when the
    /// patch is applied, later tiers by the JIT hook.
    /// </summary>
    private static bool ReadyToRun(IPatchEngine engine, Report report)
    {
        var target = typeof(DbCommand).GetMethod(nameof(DbCommand.ExecuteReader), new[] { typeof(CommandBehavior) })!;
        DbCommand command = new FakeCommand();
        using (engine.Patch(target, prefix: Patch(nameof(Patches.Count)), owner: "test"))
        {
            long before = Patches.Counter;
            var watch = Stopwatch.StartNew();
            int calls = 0;
            while (calls < Calls || (watch.ElapsedMilliseconds < 1500 && Report.Substitutions(target) < 1))
            {
                command.ExecuteReader(CommandBehavior.Default);
                calls++;
            }

            long first = Patches.Counter - before;
            report.Check("interception", first == calls, $"calls={calls} intercepted={first} {Report.Tiering(target)}");
        }

        long afterUnpatch = Patches.Counter;
        for (int i = 0; i < 1000; i++)
        {
            command.ExecuteReader(CommandBehavior.Default);
        }

        report.Check("unpatch", Patches.Counter == afterUnpatch, $"intercepted-after-unpatch={Patches.Counter - afterUnpatch}");
        return report.Done();
    }

    /// <summary>A method with a hot loop: tier0 code with patchpoints, OSR variants, then tier1.</summary>
    private static bool Osr(IPatchEngine engine, Report report)
    {
        var target = typeof(Work).GetMethod(nameof(Work.HotLoop))!;
        using var patch = engine.Patch(target, postfix: Patch(nameof(Patches.CountResult)), owner: "test");
        bool correct = true;
        long expected = Work.ExpectedHotLoop(3000);
        var watch = Stopwatch.StartNew();
        int calls = 0;
        while (calls < Calls || (watch.ElapsedMilliseconds < 1500 && Report.Substitutions(target) < 2))
        {
            correct &= Work.HotLoop(3000) == expected;
            calls++;
        }

        // One long call: OSR transitions inside a single invocation.
        correct &= Work.HotLoop(20_000_000) == Work.ExpectedHotLoop(20_000_000);
        calls++;
        report.Check("interception", correct && Patches.Counter == calls, $"calls={calls} intercepted={Patches.Counter} correct={correct} {Report.Tiering(target)}");
        return report.Done();
    }

    /// <summary>Postfix and finalizer of an async method run at completion, not at the first await.</summary>
    private static bool Async(IPatchEngine engine, Report report)
    {
        var target = typeof(Work).GetMethod(nameof(Work.ComputeAsync))!;
        using var patch = engine.Patch(target, postfix: Patch(nameof(Patches.AsyncPostfix)), finalizer: Patch(nameof(Patches.AsyncFinalizer)), owner: "test");
        bool correct = true;
        for (int i = 1; i <= Calls; i++)
        {
            correct &= Work.ComputeAsync(i).GetAwaiter().GetResult() == (i * 2) + 1;
        }

        report.Check("completion", correct && Patches.Counter == Calls && Patches.PostfixBeforeCompletion == 0,
            $"calls={Calls} intercepted={Patches.Counter} correct={correct} postfix-before-completion={Patches.PostfixBeforeCompletion} {Report.Tiering(target)}");
        string? message = null;
        try
        {
            Work.ComputeAsync(-1).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            message = $"{e.GetType().Name}:{e.Message}";
        }

        report.Check("finalizer-replaces", message == "TimeoutException:replaced negative", $"caught={message}");
        return report.Done();
    }

    /// <summary>A request on the abstract base method patches overrides in an assembly loaded afterwards.</summary>
    private static bool Virtual(IPatchEngine engine, Report report)
    {
        bool sqliteLoaded() => AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.Data.Sqlite");
        bool loadedBefore = sqliteLoaded();
        var baseMethod = typeof(DbCommand).GetMethod("ExecuteDbDataReader", Any)!;
        using var group = engine.PatchOverrides(baseMethod, prefix: Patch(nameof(Patches.CountSqlite)), owner: "test");
        int calls = SqliteLoop.Run(Calls, () => true, viaBaseOnly: true);
        var patched = group.Patched.Select(m => m.DeclaringType!.Name).OrderBy(n => n).ToList();
        var sqliteOverride = patched.Contains("SqliteCommand")
            ? Type.GetType("Microsoft.Data.Sqlite.SqliteCommand, Microsoft.Data.Sqlite")!.GetMethod("ExecuteDbDataReader", Any)! : null;
        report.Check("interception", !loadedBefore && sqliteOverride is not null && Patches.Counter == calls,
            $"calls={calls} intercepted={Patches.Counter} loaded-before={loadedBefore} patched=[{string.Join(',', patched)}] failures={group.Failures.Count} {(sqliteOverride is null ? string.Empty : Report.Tiering(sqliteOverride))}");
        return report.Done();
    }

    /// <summary>
    /// Eight threads call the target while it is patched and unpatched repeatedly: every call that
    /// starts after Patch returns is intercepted, none after Dispose returns, results stay correct.
    /// </summary>
    private static bool Threads(IPatchEngine engine, Report report)
    {
        var target = typeof(Work).GetMethod(nameof(Work.Mix))!;
        const int threadCount = 8;
        const int rounds = 20;
        int phase = 0;
        bool stop = false;
        long wrong = 0;
        var afterPatch = new long[threadCount];
        var afterUnpatch = new long[threadCount];
        long unpatchedInterceptions = 0;
        var threads = Enumerable.Range(0, threadCount).Select(t => new Thread(() =>
        {
            int i = 0;
            while (!Volatile.Read(ref stop))
            {
                int seen = Volatile.Read(ref phase);
                long counted = Volatile.Read(ref Patches.Counter);
                if (Work.Mix(i, t) != (i * 3) + t)
                {
                    Interlocked.Increment(ref wrong);
                }

                if (seen % 2 == 1)
                {
                    afterPatch[t]++;
                }
                else if (seen > 0 && Volatile.Read(ref Patches.Counter) != counted && Volatile.Read(ref phase) == seen)
                {
                    Interlocked.Increment(ref unpatchedInterceptions);
                }

                i++;
            }
        }) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        Thread.Sleep(200);
        for (int round = 0; round < rounds; round++)
        {
            var handle = engine.Patch(target, prefix: Patch(nameof(Patches.Count)), owner: "test");
            Interlocked.Increment(ref phase);
            Thread.Sleep(30);
            Interlocked.Increment(ref phase);
            handle.Dispose();
            Thread.Sleep(10);
        }

        Volatile.Write(ref stop, true);
        threads.ForEach(t => t.Join());
        long patchedCalls = afterPatch.Sum();
        report.Check("no-lost-call", Patches.Counter >= patchedCalls && patchedCalls >= Calls,
            $"calls-started-while-patched={patchedCalls} intercepted={Patches.Counter} rounds={rounds} threads={threadCount}");
        report.Check("no-corruption", Volatile.Read(ref wrong) == 0, $"wrong-results={wrong}");
        return report.Done();
    }

    /// <summary>Prefix skip, result replacement, finalizer swallow/replace, __state, ref arguments, ordering, unpatch.</summary>
    private static bool Semantics(IPatchEngine engine, Report report)
    {
        var target = typeof(Work).GetMethod(nameof(Work.Compute))!;
        int counter = 0;

        using (engine.Patch(target, prefix: Patch(nameof(Patches.SkipNegative)), owner: "skip"))
        {
            int value = Work.Compute(-5, "abc", ref counter);
            report.Check("prefix-skip", value == 99 && counter == 0, $"value={value} original-ran={counter}");
        }

        using (engine.Patch(target, postfix: Patch(nameof(Patches.DoubleResult)), owner: "result"))
        {
            int value = Work.Compute(4, "abc", ref counter);
            report.Check("result-replacement", value == 14, $"value={value}");
        }

        using (engine.Patch(target, finalizer: Patch(nameof(Patches.Swallow)), owner: "swallow"))
        {
            int value = Work.Compute(-1, "abc", ref counter);
            report.Check("finalizer-swallow", value == -7 && Patches.LastException is ArgumentOutOfRangeException, $"value={value} seen={Patches.LastException?.GetType().Name}");
        }

        using (engine.Patch(target, finalizer: Patch(nameof(Patches.Replace)), owner: "replace"))
        {
            string? caught = null;
            try
            {
                Work.Compute(-1, "abc", ref counter);
            }
            catch (Exception e)
            {
                caught = e.GetType().Name;
            }

            report.Check("finalizer-replace", caught == nameof(TimeoutException), $"caught={caught}");
        }

        using (engine.Patch(target, prefix: Patch(nameof(Patches.StatePrefix)), postfix: Patch(nameof(Patches.StatePostfix)), owner: "state"))
        {
            int value = Work.Compute(1, "abc", ref counter);
            report.Check("state-and-ref-args", value == 1 + "abc-changed".Length && Patches.StateSeen == 41, $"value={value} state={Patches.StateSeen}");
        }

        Patches.Order.Clear();
        using (engine.Patch(target, prefix: Patch(nameof(Patches.OrderPrefixA)), postfix: Patch(nameof(Patches.OrderPostfixA)), priority: 0, owner: "a"))
        using (engine.Patch(target, prefix: Patch(nameof(Patches.OrderPrefixB)), postfix: Patch(nameof(Patches.OrderPostfixB)), priority: 10, owner: "b"))
        using (engine.Patch(target, prefix: Patch(nameof(Patches.OrderPrefixC)), postfix: Patch(nameof(Patches.OrderPostfixC)), priority: 0, owner: "c"))
        {
            Work.Compute(1, "abc", ref counter);
            string order = string.Join(",", Patches.Order);
            report.Check("order", order == "preB,preA,preC,postC,postA,postB", $"order={order}");
        }

        int plain = Work.Compute(4, "abc", ref counter);
        report.Check("unpatched", plain == 7, $"value={plain}");

        string? refused = null;
        try
        {
            engine.Patch(target, prefix: Patch(nameof(Patches.BadParameter)), owner: "bad");
        }
        catch (PatchException e)
        {
            refused = e.Message;
        }

        report.Check("refuses-bad-patch", refused?.Contains("matches no parameter", StringComparison.Ordinal) == true && Work.Compute(4, "abc", ref counter) == 7, $"message={refused}");
        return report.Done();
    }

    /// <summary>The patch method lives in an assembly loaded into a custom AssemblyLoadContext (as plugins are).</summary>
    private static bool PluginLoadContext(IPatchEngine engine, Report report)
    {
        var context = new PluginContext(typeof(Scenarios).Assembly.Location);
        var pluginAssembly = context.LoadFromAssemblyPath(typeof(Scenarios).Assembly.Location);
        var pluginPatches = pluginAssembly.GetType(typeof(Patches).FullName!)!;
        var prefix = pluginPatches.GetMethod(nameof(Patches.CountSqlite), Any)!;
        bool isolated = pluginPatches != typeof(Patches) && AssemblyLoadContext.GetLoadContext(pluginAssembly) == context;
        var target = Type.GetType("Microsoft.Data.Sqlite.SqliteCommand, Microsoft.Data.Sqlite")!.GetMethod("ExecuteReader", new[] { typeof(CommandBehavior) })!;
        using var patch = engine.Patch(target, prefix: prefix, owner: "plugin");
        int calls = SqliteLoop.Run(Calls, () => true);
        long pluginCount = (long)pluginPatches.GetField(nameof(Patches.Counter))!.GetValue(null)!;
        report.Check("interception", isolated && pluginCount == calls && Patches.Counter == 0, $"calls={calls} intercepted-in-plugin={pluginCount} isolated={isolated} {Report.Tiering(target)}");
        return report.Done();
    }

    /// <summary>Loads its own copy of the app assembly; shares the engine and everything else with the default context.</summary>
    private sealed class PluginContext : AssemblyLoadContext
    {
        private readonly string _path;

        public PluginContext(string path)
            : base("test-plugin") => _path = path;

        protected override Assembly? Load(AssemblyName assemblyName) =>
            assemblyName.Name == Path.GetFileNameWithoutExtension(_path) ? LoadFromAssemblyPath(_path) : null;
    }
}
