using System.Reflection;

namespace Governor.Patching.Emit;

/// <summary>One applied <see cref="IPatchEngine.Patch"/> request on one method.</summary>
internal sealed class PatchRecord
{
    private static long s_order;

    public PatchRecord(TargetSignature signature, MethodInfo? prefix, MethodInfo? postfix, MethodInfo? finalizer, int priority, string owner)
    {
        Signature = signature;
        Prefix = prefix;
        Postfix = postfix;
        Finalizer = finalizer;
        Priority = priority;
        Owner = owner;
        Order = Interlocked.Increment(ref s_order);
    }

    /// <summary>The target as the patch named it: for shared generic code, the instantiation the patch applies to.</summary>
    public TargetSignature Signature { get; }

    public MethodInfo? Prefix { get; }

    public MethodInfo? Postfix { get; }

    public MethodInfo? Finalizer { get; }

    public int Priority { get; }

    public string Owner { get; }

    /// <summary>Registration order, the tie-breaker between equal priorities.</summary>
    public long Order { get; }

    /// <summary>Outermost first: higher priority, then earlier registration.</summary>
    public static List<PatchRecord> Sort(IEnumerable<PatchRecord> patches) =>
        patches.OrderByDescending(p => p.Priority).ThenBy(p => p.Order).ToList();

    public override string ToString() => $"{Owner} (priority {Priority})";
}
