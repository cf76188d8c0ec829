namespace Governor.Patching;

/// <summary>What the agent core passes to <see cref="PatchEngineBootstrap.TryInitialize"/>.</summary>
public sealed class PatchEngineOptions
{
    /// <summary>The environment variable that turns patching off: <c>GOVERNOR_PATCHING=off</c>.</summary>
    public const string EnvironmentVariable = "GOVERNOR_PATCHING";

    /// <summary>False when patching is turned off; the engine then installs nothing.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Options with <see cref="Enabled"/> read from <c>GOVERNOR_PATCHING</c> (off, false, 0, disabled turn it off).</summary>
    public static PatchEngineOptions FromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim();
        bool off = value is not null && (value.Equals("off", StringComparison.OrdinalIgnoreCase) || value.Equals("false", StringComparison.OrdinalIgnoreCase)
            || value == "0" || value.Equals("disabled", StringComparison.OrdinalIgnoreCase));
        return new PatchEngineOptions { Enabled = !off };
    }
}
