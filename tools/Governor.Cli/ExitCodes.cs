namespace Governor.Cli;

/// <summary>
/// Exit codes scripts can rely on (documented in docs/config-cli.md). <c>run</c> and
/// <c>launch</c> forward the child's own exit code instead once the child has started.
/// </summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Errors found (invalid rules) or the operation failed.</summary>
    public const int Failure = 1;

    /// <summary>Bad arguments: unknown option, missing value, a path that does not exist, not an agent home.</summary>
    public const int Usage = 2;

    /// <summary>The target process does not exist or is not a .NET process with a diagnostic port.</summary>
    public const int TargetNotFound = 3;

    /// <summary>The target is a .NET process, but Governor is not loaded in it.</summary>
    public const int NoGovernor = 4;

    /// <summary>The target could not be reached over diagnostics IPC (permission, timeout, protocol).</summary>
    public const int TargetUnreachable = 5;

    /// <summary>The command to run was found but could not be executed (as in shells).</summary>
    public const int CannotExecute = 126;

    /// <summary>The command to run was not found (as in shells).</summary>
    public const int CommandNotFound = 127;
}

/// <summary>An error the user can act on: printed as one message (and a hint), exit code attached.</summary>
internal sealed class CliException : Exception
{
    public CliException(int exitCode, string message, string? hint = null)
        : base(message)
    {
        ExitCode = exitCode;
        Hint = hint;
    }

    public int ExitCode { get; }

    public string? Hint { get; }

    public static CliException Usage(string message, string? hint = null) => new(ExitCodes.Usage, message, hint);
}
