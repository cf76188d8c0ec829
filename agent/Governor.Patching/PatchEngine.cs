using System.Reflection;
using Governor.Patching.Emit;

namespace Governor.Patching;

/// <summary>The engine behind <see cref="IPatchEngine"/>. One per process (the JIT hook is global).</summary>
internal sealed class PatchEngine : IPatchEngine
{
    private readonly object _lock = new();
    private readonly Dictionary<nint, PatchedMethod> _methods = new();
    private readonly Action<PatchLogLevel, string> _log;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string? _unavailableReason;

    public PatchEngine(string description, Action<PatchLogLevel, string> log)
    {
        Description = description;
        _log = log;
    }

    /// <summary>How long a patch request waits for the startup self-test before it gives up.</summary>
    public static TimeSpan SelfTestTimeout { get; } = TimeSpan.FromSeconds(30);

    public string Description { get; }

    /// <summary>The log callback given to the bootstrap.</summary>
    public Action<PatchLogLevel, string> Log => _log;

    public Task Ready => _ready.Task;

    public string? UnavailableReason => _unavailableReason;

    /// <summary>Called once by the bootstrap when the self-test has finished; null means it passed.</summary>
    public void CompleteSelfTest(string? failure)
    {
        _unavailableReason = failure is null ? null : $"self-test failed: {failure}";
        _ready.TrySetResult();
    }

    /// <summary>Waits for the self-test, then throws if patching is unavailable. Every public operation starts here.</summary>
    private void EnsureAvailable()
    {
        if (!_ready.Task.IsCompleted && !_ready.Task.Wait(SelfTestTimeout))
        {
            throw new PatchException($"patching is unavailable: the startup self-test did not finish within {SelfTestTimeout.TotalSeconds:0} s");
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
        var record = new PatchRecord(prefix, postfix, finalizer, priority, owner);
        var method = Apply(target, m => m.Add(record));
        _log(PatchLogLevel.Information, $"patched {method.Name} for {record}");
        return new Handle(() => Unapply(method, m => m.Remove(record), $"unpatched {method.Name} for {record}"));
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
        var method = Apply(target, m =>
        {
            patched = m;
            CheckDetour(m.Signature, replacement);
            if (m.Detour is { } existing)
            {
                throw new PatchException($"{m.Name} is already detoured by '{existing.Owner}'");
            }

            m.SetDetour((replacement, owner));
        });
        _log(PatchLogLevel.Information, $"detoured {method.Name} to {replacement.DeclaringType?.FullName}.{replacement.Name} for {owner}");
        return new DetourHandle(patched!.CallOriginal.MethodHandle.GetFunctionPointer(), () => Unapply(method, m => m.SetDetour(null), $"removed the detour of {method.Name}"));
    }

    private PatchedMethod Apply(MethodBase target, Action<PatchedMethod> change)
    {
        lock (_lock)
        {
            try
            {
                var signature = TargetSignature.Create(target);
                nint key = signature.Compiled.MethodHandle.Value;
                if (!_methods.TryGetValue(key, out var method))
                {
                    method = new PatchedMethod(signature, _log);
                    _methods[key] = method;
                }

                change(method);
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
    }

    private void Unapply(PatchedMethod method, Action<PatchedMethod> change, string message)
    {
        lock (_lock)
        {
            change(method);
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

        if (signature.HasGenericContext)
        {
            throw new PatchException("detours of shared generic code are not supported");
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

    private static string Describe(MethodBase method) => $"{method.DeclaringType?.FullName}.{method.Name}";

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
