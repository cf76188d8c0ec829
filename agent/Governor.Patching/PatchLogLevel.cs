namespace Governor.Patching;

/// <summary>Severity of a message the engine passes to the log callback.</summary>
public enum PatchLogLevel
{
    Debug,
    Information,
    Warning,
    Error,
}
