using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime;
using Governor.Patching.Emit;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>The engine behind <see cref="IPatchEngine"/>. One per process (the JIT hook is global).</summary>
internal sealed class PatchEngine : IPatchEngine
{
    private readonly object _lock = new();
    private readonly Dictionary<nint, PatchedMethod> _methods = new();
    private readonly Action<PatchLogLevel, string> _log;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string? _unavailableReason;
    private int _selfTestClaimed;

    public PatchEngine(string description, Action<PatchLogLevel, string> log)
    {
        Description = description;
        _log = log;
    }

    /// <summary>How long a patch request waits for the startup self-test before it gives up.</summary>
    public static TimeSpan SelfTestTimeout { get; } = TimeSpan.FromSeconds(30);

    public string Description { get; }

    public Task Ready => _ready.Task;

    /// <summary>Holds a delayed self-test's timer (see <see cref="PatchEngineOptions.SelfTestDelay"/>).</summary>
    internal Timer? SelfTestTimer { get; set; }

    public string? UnavailableReason => _unavailableReason;

    /// <summary>
    /// Runs the startup self-test once: from the thread pool (queued by the bootstrap) or from the
    /// first patch request that finds it not started yet, whichever comes first, so a request never
    /// depends on a free pool thread. Never throws (fail-open: a failure only makes patching
    /// unavailable).
    /// </summary>
    public void RunSelfTest()
    {
        if (Interlocked.Exchange(ref _selfTestClaimed, 1) != 0)
        {
            return;
        }

        long started = Stopwatch.GetTimestamp();
        long compiledBefore = JitInfo.GetCompiledMethodCount(currentThread: true);
        string? failure;
        try
        {
            failure = SelfTest.Run();
        }
        catch (Exception e)
        {
            failure = $"{e.GetType().Name}: {e.Message}";
        }

        _unavailableReason = failure is null ? null : $"self-test failed: {failure}";
        _ready.TrySetResult();
        SelfTestTimer?.Dispose();
        try
        {
            if (failure is null)
            {
                string elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture);
                _log(PatchLogLevel.Information, $"patch engine ready: {Description} (self-test passed in {elapsed} ms, {JitInfo.GetCompiledMethodCount(currentThread: true) - compiledBefore} methods JIT-compiled)");
            }
            else
            {
                _log(PatchLogLevel.Warning, $"patching unavailable: {_unavailableReason}");
            }
        }
        catch (Exception)
        {
            // The log callback must not throw; if it does, the outcome is still in the engine.
        }
    }

    /// <summary>Waits for the self-test (running it here if nobody has started it), then throws if patching is unavailable. Every public operation starts here.</summary>
    private void EnsureAvailable()
    {
        if (!_ready.Task.IsCompleted)
        {
            RunSelfTest();
            if (!WaitParked(_ready.Task, SelfTestTimeout))
            {
                throw new PatchException($"patching is unavailable: the startup self-test did not finish within {SelfTestTimeout.TotalSeconds:0} s");
            }
        }

        if (_unavailableReason is { } reason)
        {
            throw new PatchException($"patching is unavailable: {reason}");
        }
    }

    public IDisposable Patch(MethodBase target, MethodInfo? prefix = null, MethodInfo? postfix = null, MethodInfo? finalizer = null, int priority = 0, string owner = "")
    {
        ArgumentNullException.ThrowIfNull(target);
        if (prefix is null && postfix is null && finalizer is null)
        {
            throw new ArgumentException("give at least one of prefix, postfix, finalizer");
        }

        EnsureAvailable();
        CheckPatchMethod(prefix, nameof(prefix), typeof(bool));
        CheckPatchMethod(postfix, nameof(postfix), null);
        CheckPatchMethod(finalizer, nameof(finalizer), null);
        PatchRecord? record = null;
        var method = Apply(target, (m, signature) =>
        {
            record = new PatchRecord(signature, prefix, postfix, finalizer, priority, owner);
            m.Add(record);
        });
        _log(PatchLogLevel.Information, $"patched {Describe(target)} for {record}");
        return new Handle(() => Unapply(method, m => m.Remove(record!), $"unpatched {Describe(target)} for {record}"));
    }

    public IPatchGroup PatchOverrides(MethodInfo baseMethod, MethodInfo? prefix = null, MethodInfo? postfix = null, MethodInfo? finalizer = null, int priority = 0, string owner = "")
    {
        ArgumentNullException.ThrowIfNull(baseMethod);
        if (!baseMethod.IsVirtual || baseMethod.DeclaringType is null || baseMethod.DeclaringType.IsInterface)
        {
            throw new PatchException($"{baseMethod.Name} is not a virtual or abstract method of a class");
        }

        EnsureAvailable();
        var group = new OverridePatcher(baseMethod.GetBaseDefinition(), method => Patch(method, prefix, postfix, finalizer, priority, owner), _log);
        group.Start();
        return group;
    }

    public IDetour Detour(MethodBase target, MethodInfo replacement, string owner = "")
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(replacement);
        EnsureAvailable();
        PatchedMethod? patched = null;
        var method = Apply(target, (m, signature) =>
        {
            patched = m;
            CheckDetour(signature, replacement);
            if (m.Detour is { } existing)
            {
                throw new PatchException($"{m.Name} is already detoured by '{existing.Owner}'");
            }

            m.SetDetour((replacement, owner));
        });
        _log(PatchLogLevel.Information, $"detoured {method.Name} to {replacement.DeclaringType?.FullName}.{replacement.Name} for {owner}");
        return new DetourHandle(patched!.CallOriginal.MethodHandle.GetFunctionPointer(), () => Unapply(method, m => m.SetDetour(null), $"removed the detour of {method.Name}"));
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the patched method whose code <paramref name="target"/>
    /// runs (one per compiled method: the reference-type instantiations of a generic method share
    /// one), with <paramref name="target"/>'s own signature.
    /// </summary>
    private PatchedMethod Apply(MethodBase target, Action<PatchedMethod, TargetSignature> change)
    {
        EnterParked(_lock);
        try
        {
            try
            {
                var signature = TargetSignature.Create(target);
                nint key = signature.CompiledHandle.Value;
                if (!_methods.TryGetValue(key, out var method))
                {
                    method = new PatchedMethod(signature, _log);
                    _methods[key] = method;
                }

                change(method, signature);
                return method;
            }
            catch (PatchException e)
            {
                throw new PatchException($"Cannot patch {Describe(target)}: {e.Message}", e);
            }
            catch (Exception e) when (e is not ArgumentException)
            {
                throw new PatchException($"Cannot patch {Describe(target)}: {e.GetType().Name}: {e.Message}", e);
            }
        }
        finally
        {
            Monitor.Exit(_lock);
        }
    }

    /// <summary>
    /// Takes <paramref name="gate"/>, parked while it waits (see JitHook.Park): the caller may be
    /// inside a compilation that the thread holding it waits for.
    /// </summary>
    private static void EnterParked(object gate)
    {
        if (Monitor.TryEnter(gate))
        {
            return;
        }

        bool parked = JitHook.Park();
        try
        {
            Monitor.Enter(gate);
        }
        finally
        {
            if (parked)
            {
                JitHook.Unpark();
            }
        }
    }

    private static bool WaitParked(Task task, TimeSpan timeout)
    {
        if (task.IsCompleted)
        {
            return true;
        }

        bool parked = JitHook.Park();
        try
        {
            return task.Wait(timeout);
        }
        finally
        {
            if (parked)
            {
                JitHook.Unpark();
            }
        }
    }

    private void Unapply(PatchedMethod method, Action<PatchedMethod> change, string message)
    {
        EnterParked(_lock);
        try
        {
            change(method);
        }
        finally
        {
            Monitor.Exit(_lock);
        }

        _log(PatchLogLevel.Information, message);
    }

    private static void CheckPatchMethod(MethodInfo? method, string role, Type? allowedReturn)
    {
        if (method is null)
        {
            return;
        }

        if (!method.IsStatic || method.ContainsGenericParameters)
        {
            throw new PatchException($"the {role} {Describe(method)} must be a static, non-generic method");
        }

        if (method.ReturnType != typeof(void) && method.ReturnType != allowedReturn)
        {
            throw new PatchException($"the {role} {Describe(method)} must return void{(allowedReturn is null ? string.Empty : " or " + allowedReturn.Name)}");
        }
    }

    private static void CheckDetour(TargetSignature signature, MethodInfo replacement)
    {
        if (!replacement.IsStatic || replacement.ContainsGenericParameters)
        {
            throw new PatchException($"the replacement {Describe(replacement)} must be a static, non-generic method");
        }

        if (signature.IsShared)
        {
            // One detour would replace the code of every reference-type instantiation at once.
            throw new PatchException("detours of generic code shared across reference-type instantiations are not supported; use Patch");
        }

        var expected = signature.PhysicalParameters;
        var actual = replacement.GetParameters().Select(p => p.ParameterType).ToArray();
        bool match = expected.Length == actual.Length && replacement.ReturnType == signature.ReturnType
            && expected.Select((t, i) => i == 0 && signature.HasThis ? actual[0].IsAssignableFrom(t) : actual[i] == t).All(ok => ok);
        if (!match)
        {
            throw new PatchException($"the replacement must be {signature.ReturnType.Name} ({string.Join(", ", expected.Select(t => t.Name))})");
        }
    }

    /// <summary>For messages: <c>Namespace.Type`1[Arg].Method[Arg]</c> (no assembly-qualified type arguments).</summary>
    private static string Describe(MethodBase method) =>
        $"{method.DeclaringType}.{method.Name}{(method.IsGenericMethod ? $"[{string.Join(",", method.GetGenericArguments().Select(a => a.Name))}]" : string.Empty)}";

    private class Handle : IDisposable
    {
        private Action? _dispose;

        public Handle(Action dispose) => _dispose = dispose;

        public void Dispose() => Interlocked.Exchange(ref _dispose, null)?.Invoke();
    }

    private sealed class DetourHandle : Handle, IDetour
    {
        public DetourHandle(nint original, Action dispose)
            : base(dispose) => Original = original;

        public nint Original { get; }
    }
}
