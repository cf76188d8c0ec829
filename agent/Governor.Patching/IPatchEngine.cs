using System.Reflection;

namespace Governor.Patching;

/// <summary>
/// Method patching for plugins (plugins never patch on their own). Obtained from
/// <see cref="PatchEngineBootstrap.TryInitialize"/>; null there means patching is unavailable.
/// <para>
/// Patch methods are static. Their parameters are bound by name, as in Harmony:
/// <c>__instance</c> (the target's <c>this</c>; null for static targets), <c>__result</c> (the
/// return value; <c>ref</c> to replace it), <c>__state</c> (<c>ref</c>; one variable per
/// <see cref="Patch"/> call shared by its prefix, postfix and finalizer), <c>__exception</c>
/// (finalizers only; <c>ref Exception</c>: set null to swallow, or another exception to replace),
/// <c>__args</c> (object[] snapshot of the arguments), <c>__runOriginal</c> (bool), or the name of
/// a target parameter (by value, or <c>ref</c> to change it).
/// </para>
/// <para>
/// A prefix returns void or bool; false skips the original and the remaining prefixes (set
/// <c>__result</c> to supply the return value). Postfixes run when the original (or a skipping
/// prefix) returned normally; finalizers always run and see the exception. For targets returning
/// Task, Task&lt;T&gt;, ValueTask or ValueTask&lt;T&gt;, postfixes and finalizers run when the task
/// completes and <c>__result</c> is the awaited value (T); prefixes see the task.
/// </para>
/// <para>
/// Order: patches on one method nest. They are sorted by priority (higher first), then by
/// registration order; prefixes run in that order, postfixes and finalizers in the reverse order,
/// so the first patch's prefix runs first and its postfix and finalizer run last.
/// </para>
/// </summary>
public interface IPatchEngine
{
    /// <summary>A short description of the runtime and mechanism, for status and logs.</summary>
    string Description { get; }

    /// <summary>
    /// Completes (never faults) when the engine's startup self-test has finished. The self-test
    /// runs in the background while the agent and the app start, and usually ends within a few
    /// milliseconds; <see cref="Patch"/>, <see cref="PatchOverrides"/> and <see cref="Detour"/>
    /// wait for it, so no real target is patched before it passed.
    /// </summary>
    Task Ready { get; }

    /// <summary>
    /// Null while patching works (or the self-test is still running); otherwise why it does not
    /// (the self-test failed). The patch methods then throw <see cref="PatchException"/> with this
    /// reason, and plugins use their hook-only paths.
    /// </summary>
    string? UnavailableReason { get; }

    /// <summary>
    /// Patches one method (with a body; for abstract methods use <see cref="PatchOverrides"/>).
    /// Takes effect for every call that starts after it returns. Dispose the result to unpatch.
    /// </summary>
    /// <exception cref="PatchException">The target or a patch method is not supported, or patching is unavailable (<see cref="UnavailableReason"/>); nothing was changed.</exception>
    IDisposable Patch(MethodBase target, MethodInfo? prefix = null, MethodInfo? postfix = null, MethodInfo? finalizer = null, int priority = 0, string owner = "");

    /// <summary>
    /// Patches <paramref name="baseMethod"/> (when it has a body) and every override of it in loaded
    /// assemblies and in assemblies loaded later (found at <see cref="AppDomain.AssemblyLoad"/>,
    /// before their code runs). <c>__instance</c> should be typed as the base type.
    /// </summary>
    IPatchGroup PatchOverrides(MethodInfo baseMethod, MethodInfo? prefix = null, MethodInfo? postfix = null, MethodInfo? finalizer = null, int priority = 0, string owner = "");

    /// <summary>
    /// Replaces a method with a static <paramref name="replacement"/> that takes the instance first
    /// (for instance methods) and then the target's parameters, and returns the same type. The
    /// replacement reaches the original through <see cref="IDetour.Original"/>. At most one detour
    /// per method; prefixes and postfixes of <see cref="Patch"/> wrap it.
    /// </summary>
    IDetour Detour(MethodBase target, MethodInfo replacement, string owner = "");
}

/// <summary>The patches applied to a base method and its overrides. Dispose to unpatch all.</summary>
public interface IPatchGroup : IDisposable
{
    /// <summary>The methods patched so far (grows as assemblies load).</summary>
    IReadOnlyList<MethodBase> Patched { get; }

    /// <summary>Overrides that could not be patched, with the reason.</summary>
    IReadOnlyList<string> Failures { get; }
}

/// <summary>A detour; dispose to remove it.</summary>
public interface IDetour : IDisposable
{
    /// <summary>
    /// A function pointer that calls the original code (whatever tier it is at), for
    /// <c>delegate* managed&lt;TInstance, TArgs..., TResult&gt;</c> with the instance first.
    /// </summary>
    nint Original { get; }
}
