using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Governor.Patching.Native;

namespace Governor.Patching;

/// <summary>
/// Starts the patch engine once per process. The agent core calls <see cref="TryInitialize"/> at
/// startup, before plugins start; a null result means patching is unavailable and plugins must
/// use hook-only paths. Subsequent calls return the same engine (or the same refusal).
/// <para>
/// Only what must happen before the app's code is compiled happens on the caller's thread: the
/// runtime checks and the JIT hook (targets compiled later must be seen). The self-test runs on a
/// thread-pool thread; the engine's patch methods wait for it (<see cref="IPatchEngine.Ready"/>),
/// so no real target is touched before it passed. See docs/performance.md (patch engine).
/// </para>
/// </summary>
public static class PatchEngineBootstrap
{
    private static readonly object _lock = new();
    private static PatchEngine? s_engine;
    private static string? s_refusal;

    private static readonly int[] s_supportedMajors = { 8, 9, 10 };

    /// <summary>The runtime major versions the engine was tested on; others are refused.</summary>
    public static IReadOnlyList<int> SupportedRuntimeMajorVersions => s_supportedMajors;

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
                s_refusal = Start(options, log, out s_engine);
                if (s_refusal is not null)
                {
                    log(PatchLogLevel.Warning, $"patching unavailable: {s_refusal}");
                }
            }

            unavailableReason = s_refusal ?? s_engine?.UnavailableReason;
            return unavailableReason is null ? s_engine : null;
        }
    }

    private static string? Start(PatchEngineOptions options, Action<PatchLogLevel, string> log, out PatchEngine? engine)
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

        if (!RuntimeInformation.FrameworkDescription.StartsWith(".NET ", StringComparison.Ordinal) || !IsSupportedMajor(version.Major))
        {
            return $"runtime {runtime} is not one the engine was tested on (.NET {string.Join(", ", SupportedRuntimeMajorVersions)})";
        }

        if (!RuntimeFeature.IsDynamicCodeSupported)
        {
            return "the runtime cannot run generated code (native AOT?)";
        }

        try
        {
            var failure = JitHook.Install(RuntimeEnvironment.GetRuntimeDirectory(), log);
            if (failure is not null)
            {
                return failure;
            }

            var candidate = new PatchEngine($"JIT hook + code redirection on {runtime}, x64", log);
            // A thread-pool thread, not a new thread: Thread.Start waits until the new thread runs,
            // which costs milliseconds on a loaded machine, while the pool is already warm (the
            // agent core reads its log and rules on it before this).
            if (options.SelfTestDelay <= TimeSpan.Zero)
            {
                ThreadPool.UnsafeQueueUserWorkItem(static state => ((PatchEngine)state!).RunSelfTest(), candidate);
            }
            else
            {
                // One shot; the engine keeps the timer alive until it fires.
                candidate.SelfTestTimer = new Timer(static state => ((PatchEngine)state!).RunSelfTest(), candidate, options.SelfTestDelay, Timeout.InfiniteTimeSpan);
            }

            engine = candidate;
            return null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    private static bool IsSupportedMajor(int major)
    {
        foreach (int supported in s_supportedMajors)
        {
            if (supported == major)
            {
                return true;
            }
        }

        return false;
    }
}
