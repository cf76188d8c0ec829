namespace Governor.Patching;

/// <summary>A patch request the engine refused or could not apply; the process state is unchanged.</summary>
public sealed class PatchException : Exception
{
    public PatchException(string message)
        : base(message)
    {
    }

    public PatchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
