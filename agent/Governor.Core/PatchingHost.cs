using Governor.Patching;

namespace Governor.Core;

/// <summary>Starts the patch engine once at startup (see docs/design.md, "Patch engine").</summary>
internal static class PatchingHost
{
    /// <param name="selfTestDelay">
    /// The self-test runs this long after the agent started (<c>startup:settleDelay</c>), off the
    /// app's startup; a patch requested before (an ADO.NET provider or System.Net.Http loading
    /// early) runs it first.
    /// </param>
    public static IPatchEngine? TryInitialize(IGovernorLogger log, TimeSpan selfTestDelay, out string? unavailableReason)
    {
        // GOVERNOR_PATCHING (and its argument and governor.json forms) was already honoured by
        // the core's settings, so the engine is asked to start unconditionally here.
        return PatchEngineBootstrap.TryInitialize(new PatchEngineOptions { Enabled = true, SelfTestDelay = selfTestDelay }, (level, message) => log.Write(Map(level), null, "{Message}", message), out unavailableReason);
    }

    /// <summary>The status file's "patching" value: available, starting (self-test running) or unavailable, with the detail.</summary>
    public static string Describe(IPatchEngine? engine, string? unavailableReason) => engine switch
    {
        null => $"unavailable: {unavailableReason}",
        { UnavailableReason: { } reason } => $"unavailable: {reason}",
        { Ready.IsCompleted: true } => $"available: {engine.Description}",
        _ => $"starting: self-test pending ({engine.Description})",
    };

    private static GovernorLogLevel Map(PatchLogLevel level) => level switch
    {
        PatchLogLevel.Debug => GovernorLogLevel.Debug,
        PatchLogLevel.Information => GovernorLogLevel.Information,
        PatchLogLevel.Warning => GovernorLogLevel.Warning,
        _ => GovernorLogLevel.Error,
    };
}
