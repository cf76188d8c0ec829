using System.Reflection;
using Governor.Patching.Emit;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>
/// One patched method: its generated entry methods, its patches and detour, and the
/// <see cref="CodeRedirection"/> that makes the runtime run them. Kept for the process lifetime
/// once created (unpatching switches it off). Callers hold the engine's lock.
/// </summary>
internal sealed unsafe class PatchedMethod
{
    private readonly CodeRedirection _redirection;
    private readonly Action<PatchLogLevel, string> _log;
    private readonly List<PatchRecord> _patches = new();

    public PatchedMethod(TargetSignature signature, Action<PatchLogLevel, string> log)
    {
        Signature = signature;
        _log = log;
        _redirection = new CodeRedirection(signature.CompiledHandle, signature.CompiledInstantiation, Name, IlScanner.HasBackwardBranch(signature.Target), log);
        var entries = EntryEmitter.Build(signature, _redirection.State);
        _redirection.SetEntries(entries.EntryCodes);
        CallOriginal = entries.CallOriginal;
    }

    public TargetSignature Signature { get; }

    public MethodInfo CallOriginal { get; }

    public (MethodInfo Replacement, string Owner)? Detour { get; private set; }

    /// <summary>For messages: the compiled (for shared generic code, the shared) method.</summary>
    public string Name => $"{Signature.Compiled.DeclaringType?.FullName}.{Signature.Compiled.Name}";

    public void Add(PatchRecord patch)
    {
        if (patch.Signature.IsShared && !Inlining.Disable(patch.Signature.Target.MethodHandle.Value))
        {
            // Callers may inline the instantiation itself (its instantiating stub's method), not
            // only the shared code; CodeRedirection does the same for the shared method.
            _log(PatchLogLevel.Debug, $"{Name}: inlining cannot be disabled on this runtime");
        }

        _patches.Add(patch);
        try
        {
            Update();
        }
        catch
        {
            _patches.Remove(patch);
            throw;
        }
    }

    public void Remove(PatchRecord patch)
    {
        if (_patches.Remove(patch))
        {
            Update();
        }
    }

    public void SetDetour((MethodInfo Replacement, string Owner)? detour)
    {
        var previous = Detour;
        Detour = detour;
        try
        {
            Update();
        }
        catch
        {
            Detour = previous;
            throw;
        }
    }

    private void Update()
    {
        if (_patches.Count == 0 && Detour is null)
        {
            _redirection.Deactivate();
            return;
        }

        var dispatcher = DispatcherEmitter.Build(Signature, _redirection.State, PatchRecord.Sort(_patches), Detour?.Replacement);
        _redirection.Apply(CodeRedirection.CompiledCode(dispatcher));
    }
}
