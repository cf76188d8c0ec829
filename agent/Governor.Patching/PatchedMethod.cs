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
        bool isVirtual = signature.Compiled.IsVirtual;
        if (isVirtual && signature.IsShared)
        {
            // Its entries could not be attributed to the shared method safely (see CodeHeader).
            throw new PatchException("virtual methods of generic code shared across reference-type instantiations are not supported");
        }

        _redirection = new CodeRedirection(signature.CompiledHandle, signature.CompiledInstantiation, Name, IlScanner.HasBackwardBranch(signature.Target), log);
        var entries = EntryEmitter.Build(signature, _redirection.State);
        bool attributed = _redirection.SetEntries(entries.EntryCodes, signature.IsShared ? null : entries.Entries.Select(e => e.MethodHandle.Value).ToArray());
        if (!attributed && isVirtual)
        {
            // Published unattributed, the entry would crash the runtime at the next devirtualization.
            throw new PatchException("the runtime's code headers are not the layout the engine knows, so a virtual method cannot be redirected safely on this runtime");
        }
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
            Restore();
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
            Restore();
            throw;
        }
    }

    /// <summary>
    /// After a failed change: the redirection may already be active with the refused patch's
    /// dispatcher (activation compiles and hot-patches after switching on), so it is set back to
    /// the patches that remain, or switched off; if even that fails, switched off.
    /// </summary>
    private void Restore()
    {
        try
        {
            Update();
        }
        catch (Exception e)
        {
            _log(PatchLogLevel.Warning, $"{Name}: restoring the remaining patches after a failed change failed ({e.GetType().Name}: {e.Message}); the method runs unpatched");
            _redirection.Deactivate();
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
