using Governor.Patching;
using Governor.Patching.TestApp;

// Usage: Governor.Patching.TestApp <scenario>. Prints "RESULT <scenario> ok=<bool> ..." lines
// that Governor.Patching.Tests asserts; any other output is diagnostics.
if (args.Length == 0 || !Scenarios.All.TryGetValue(args[0], out var scenario))
{
    Console.WriteLine($"usage: Governor.Patching.TestApp <{string.Join('|', Scenarios.All.Keys)}>");
    return 2;
}

var engine = PatchEngineBootstrap.TryInitialize(PatchEngineOptions.FromEnvironment(), (level, message) => Console.WriteLine($"[{level}] {message}"), out var reason);
if (engine is not null)
{
    // The self-test runs in the background; patch calls would wait for it, but report its outcome first.
    engine.Ready.Wait();
    reason = engine.UnavailableReason;
}

if (engine is null || reason is not null)
{
    Console.WriteLine($"RESULT {args[0]} ok=False unavailable: {reason}");
    return 1;
}

Console.WriteLine($"runtime {Environment.Version}: {engine.Description}");
try
{
    return scenario(engine, new Report(args[0])) ? 0 : 1;
}
catch (Exception e)
{
    Console.WriteLine($"RESULT {args[0]} ok=False {e}");
    return 1;
}
