using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
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
        ["generic"] = Generic,
        ["decoders"] = Decoders,
        ["jitfailure"] = HostSafety.JitFailure,
        ["derived"] = HostSafety.DerivedTypeLoadedLater,
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

        var tally = new Tally();
        long before = Volatile.Read(ref Patches.Counter);
        using (engine.Patch(typeof(Tally).GetMethod(nameof(Tally.Add))!, prefix: Patch(nameof(Patches.Count)), owner: "void"))
        {
            tally.Add(2);
            tally.Add(3);
        }

        report.Check("void-instance-method", tally.Value == 5 && Volatile.Read(ref Patches.Counter) - before == 2, $"value={tally.Value} intercepted={Volatile.Read(ref Patches.Counter) - before}");

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

    /// <summary>
    /// Generic code shared across reference-type instantiations: a generic method (patched for
    /// string and for Item, called with string, Item and an unpatched Other), an instance method
    /// and a static method of a generic class (patched for Holder&lt;string&gt;, called also on
    /// Holder&lt;Item&gt; and on a subclass of Holder&lt;string&gt;). Each patch sees exactly the calls of
    /// its instantiation, across tier-up of the shared code, and nothing after it is disposed.
    /// </summary>
    private static bool Generic(IPatchEngine engine, Report report)
    {
        var identity = typeof(GenericWork).GetMethod(nameof(GenericWork.Identity))!;
        var identityOfString = identity.MakeGenericMethod(typeof(string));
        var describe = typeof(Holder<string>).GetMethod(nameof(Holder<string>.Describe))!;
        var create = typeof(Holder<string>).GetMethod(nameof(Holder<string>.Create))!;
        var patches = new[]
        {
            engine.Patch(identityOfString, postfix: Patch(nameof(Patches.IdentityOfString)), owner: "test"),
            engine.Patch(identity.MakeGenericMethod(typeof(Item)), prefix: Patch(nameof(Patches.IdentityOfItem)), owner: "test"),
            engine.Patch(describe, prefix: Patch(nameof(Patches.HolderOfString)), owner: "test"),
            engine.Patch(create, postfix: Patch(nameof(Patches.CreateOfString)), owner: "test"),
        };

        var item = new Item(7);
        var negative = new Item(-1);
        var other = new Other();
        var ofString = new Holder<string>("s");
        var ofItem = new Holder<Item>(item);
        var derived = new StringHolder();
        long strings = 0, items = 0, holders = 0, creates = 0;
        bool correct = true;
        var watch = Stopwatch.StartNew();
        int i = 0;
        while (i < Calls || (watch.ElapsedMilliseconds < 1500 && (Report.Substitutions(identityOfString) < 2 || Report.Substitutions(describe) < 2 || Report.Substitutions(create) < 2)))
        {
            correct &= ReferenceEquals(GenericWork.Identity("text"), "text");
            correct &= ReferenceEquals(GenericWork.Identity(item), item);
            correct &= ReferenceEquals(GenericWork.Identity(other), other);
            correct &= ofString.Describe(i) == i + 1 && ofItem.Describe(i) == i + 1 && derived.Describe(i) == i + 1;
            correct &= Holder<string>.Create(i) == (i * 2) + 1 && Holder<Item>.Create(i) == i * 2;
            strings++;
            items++;
            holders += 2;
            creates++;
            i++;
        }

        correct &= GenericWork.Identity("swap") == "swapped" && GenericWork.Identity(negative).Id == 0;
        strings++;
        items++;
        report.Check("generic-method", correct && Patches.StringCalls == strings && Patches.ItemCalls == items,
            $"calls={strings + items + i} intercepted-string={Patches.StringCalls}/{strings} intercepted-item={Patches.ItemCalls}/{items} correct={correct} {Report.Tiering(identityOfString)}");
        report.Check("generic-class", Patches.HolderCalls == holders && Patches.CreateCalls == creates,
            $"intercepted-instance={Patches.HolderCalls}/{holders} intercepted-static={Patches.CreateCalls}/{creates} instance:{Report.Tiering(describe)} static:{Report.Tiering(create)}");

        foreach (var patch in patches)
        {
            patch.Dispose();
        }

        long before = Patches.StringCalls + Patches.ItemCalls + Patches.HolderCalls + Patches.CreateCalls;
        bool plain = GenericWork.Identity("swap") == "swap" && GenericWork.Identity(negative).Id == -1 && ofString.Describe(1) == 2 && Holder<string>.Create(1) == 2;
        long after = Patches.StringCalls + Patches.ItemCalls + Patches.HolderCalls + Patches.CreateCalls;
        report.Check("unpatch", plain && after == before, $"plain-results={plain} intercepted-after-unpatch={after - before}");
        return report.Done();
    }

    /// <summary>
    /// The engine's exact-encoding matchers (X64) against Iced on real code of this runtime: entry
    /// stubs of methods not compiled, compiled at tier0 with call counting, ReadyToRun and JIT-compiled,
    /// and the prologs of their code. Every stub must resolve to the same place, and every prolog
    /// instruction the engine accepts must be one Iced decodes the same way (same length, register,
    /// immediate). Stopping earlier than Iced is allowed (it only refuses a hot patch) but reported.
    /// </summary>
    private static unsafe bool Decoders(IPatchEngine engine, Report report)
    {
        var methods = new[] { typeof(object).Assembly, typeof(Enumerable).Assembly, typeof(DbCommand).Assembly, typeof(Scenarios).Assembly, typeof(System.Text.RegularExpressions.Regex).Assembly }
            .SelectMany(a => a.GetTypes())
            .Where(t => !t.ContainsGenericParameters)
            .SelectMany(t => t.GetMethods(Any | BindingFlags.DeclaredOnly).Cast<MethodBase>().Concat(t.GetConstructors(Any | BindingFlags.DeclaredOnly)))
            .Where(m => !m.IsAbstract && !m.ContainsGenericParameters && m.GetMethodBody() is not null && (m.MethodImplementationFlags & MethodImplAttributes.InternalCall) == 0)
            .Where((_, i) => i % 7 == 0)
            .Take(3000)
            .ToList();
        int stubs = 0, stubMismatches = 0, prologs = 0, unsafeMismatches = 0, stricter = 0, sites = 0;
        var examples = new List<string>();
        foreach (var method in methods)
        {
            for (int pass = 0; pass < 2; pass++)
            {
                nint entry;
                try
                {
                    entry = method.MethodHandle.GetFunctionPointer();
                }
                catch (Exception)
                {
                    break;
                }

                var kind = Native.CodeResolver.Resolve(entry, out nint ours);
                nint theirs = IcedReference.Resolve(entry);
                stubs++;
                bool native = kind == Native.CodeKind.NotCompiled;
                if (!native && ours != theirs)
                {
                    stubMismatches++;
                    examples.Add($"stub {method.DeclaringType}.{method.Name}: ours 0x{ours:X} iced 0x{theirs:X}");
                }

                if (!native)
                {
                    prologs++;
                    var reference = IcedReference.Prolog(ours, 12);
                    nint at = ours;
                    bool framePointerSaved = false;
                    int count = 0;
                    for (; count < 12 && Native.X64.TryDecodeProlog(at, framePointerSaved, out var instruction); count++)
                    {
                        if (count >= reference.Count || reference[count] != (instruction.Kind, instruction.Length, instruction.Register, instruction.Immediate))
                        {
                            unsafeMismatches++;
                            examples.Add($"prolog {method.DeclaringType}.{method.Name} #{count}: ours {instruction.Kind}/{instruction.Length} iced {(count < reference.Count ? reference[count].ToString() : "stop")}");
                            break;
                        }

                        sites += instruction.Length >= 5 ? 1 : 0;
                        framePointerSaved |= instruction.Kind == Native.PrologKind.Push && instruction.Register == 5;
                        at += instruction.Length;
                    }

                    if (count < reference.Count && count < 12)
                    {
                        stricter++;
                    }
                }

                if (pass == 0)
                {
                    try
                    {
                        RuntimeHelpers.PrepareMethod(method.MethodHandle);
                    }
                    catch (Exception)
                    {
                        break;
                    }
                }
            }
        }

        report.Check("stubs", stubMismatches == 0 && stubs > 1000, $"entries={stubs} mismatches={stubMismatches}");
        report.Check("prologs", unsafeMismatches == 0 && prologs > 1000, $"prologs={prologs} replaceable-instructions={sites} accepted-but-different={unsafeMismatches} stopped-earlier-than-iced={stricter} {string.Join(" | ", examples.Take(5))}");
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
