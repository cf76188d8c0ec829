using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>
/// Starts the patch engine once per process. The agent core calls <see cref="TryInitialize"/> at
/// startup, before plugins start; a null result means patching is unavailable and plugins must
/// use hook-only paths. Subsequent calls return the same engine (or the same refusal).
/// </summary>
public static class PatchEngineBootstrap
{
    private static readonly object _lock = new();
    private static IPatchEngine? s_engine;
    private static string? s_refusal;

    /// <summary>The runtime major versions the engine was tested on; others are refused.</summary>
    public static IReadOnlyList<int> SupportedRuntimeMajorVersions { get; } = new[] { 8, 9, 10 };

    /// <param name="options">From the core; <see cref="PatchEngineOptions.FromEnvironment"/> reads <c>GOVERNOR_PATCHING</c>.</param>
    /// <param name="log">Receives every message; must not throw.</param>
    /// <param name="unavailableReason">Why null was returned.</param>
    public static IPatchEngine? TryInitialize(PatchEngineOptions options, Action<PatchLogLevel, string> log, out string? unavailableReason)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (!options.Enabled)
        {
            unavailableReason = $"patching is turned off ({PatchEngineOptions.EnvironmentVariable}=off)";
            return null;
        }

        lock (_lock)
        {
            if (s_engine is null && s_refusal is null)
            {
                s_refusal = Start(log, out s_engine);
                if (s_refusal is not null)
                {
                    log(PatchLogLevel.Warning, $"patching unavailable: {s_refusal}");
                }
            }

            unavailableReason = s_refusal;
            return s_engine;
        }
    }

    private static string? Start(Action<PatchLogLevel, string> log, out IPatchEngine? engine)
    {
        engine = null;
        var version = Environment.Version;
        string runtime = $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})";
        if (!OperatingSystem.IsLinux())
        {
            return $"only Linux is supported, this is {RuntimeInformation.OSDescription}";
        }

        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return $"only x64 is supported, this process is {RuntimeInformation.ProcessArchitecture}";
        }

        if (!RuntimeInformation.FrameworkDescription.StartsWith(".NET ", StringComparison.Ordinal) || !SupportedRuntimeMajorVersions.Contains(version.Major))
        {
            return $"runtime {runtime} is not one the engine was tested on (.NET {string.Join(", ", SupportedRuntimeMajorVersions)})";
        }

        if (!RuntimeFeature.IsDynamicCodeSupported)
        {
            return "the runtime cannot run generated code (native AOT?)";
        }

        try
        {
            var failure = JitHook.Install(RuntimeEnvironment.GetRuntimeDirectory());
            if (failure is not null)
            {
                return failure;
            }

            var candidate = new PatchEngine($"JIT hook + code redirection on {runtime}, x64", log);
            var selfTest = SelfTest.Run(candidate);
            if (selfTest is not null)
            {
                return $"self-test failed: {selfTest}";
            }

            log(PatchLogLevel.Information, $"patch engine ready: {candidate.Description}");
            engine = candidate;
            return null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }
}
