using Governor.Patching;

namespace Governor.Core;

/// <summary>Starts the patch engine once at startup (see docs/design.md, "Patch engine").</summary>
internal static class PatchingHost
{
    public static IPatchEngine? TryInitialize(IGovernorLogger log, out string? unavailableReason)
    {
        // Wired to the engine's bootstrap when the engine lands.
        unavailableReason = "the patch engine is not part of this build";
        log.Debug("Patching unavailable: {Reason}", unavailableReason);
        return null;
    }
}
