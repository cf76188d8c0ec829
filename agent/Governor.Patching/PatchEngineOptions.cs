namespace Governor.Patching;

/// <summary>What the agent core passes to <see cref="PatchEngineBootstrap.TryInitialize"/>.</summary>
public sealed class PatchEngineOptions
{
    /// <summary>The environment variable that turns patching off: <c>GOVERNOR_PATCHING=off</c>.</summary>
    public const string EnvironmentVariable = "GOVERNOR_PATCHING";

    /// <summary>False when patching is turned off; the engine then installs nothing.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// How long after start the self-test runs in the background (zero: at once). A patch
    /// requested earlier runs it first, on its own thread. The agent delays it past the app's
    /// startup, where its compilations would compete with the app's for the CPU.
    /// </summary>
    public TimeSpan SelfTestDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Options with <see cref="Enabled"/> read from <c>GOVERNOR_PATCHING</c> (off, false, 0, disabled turn it off).</summary>
    public static PatchEngineOptions FromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim();
        bool off = value is not null && (value.Equals("off", StringComparison.OrdinalIgnoreCase) || value.Equals("false", StringComparison.OrdinalIgnoreCase)
            || value == "0" || value.Equals("disabled", StringComparison.OrdinalIgnoreCase));
        return new PatchEngineOptions { Enabled = !off };
    }
}
