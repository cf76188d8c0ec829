using System.Reflection;
using System.Runtime.Loader;

/// <summary>
/// Entry point called by the runtime before the app's Main when <c>DOTNET_STARTUP_HOOKS</c>
/// names this assembly. Nothing here may throw into the host: every failure is written to a
/// fallback log file and the app starts as if the agent were absent.
/// </summary>
internal class StartupHook
{
    // AppContext data is process-wide (not per AssemblyLoadContext), so a second copy of the
    // hook from another agent home sees what the first one set.
    private const string LoadedKey = "Governor.Home";
    private const string DuplicateReporterKey = "Governor.ReportDuplicate";

    // Processes that must never get the agent: the SDK's own tools and build servers, which
    // inherit DOTNET_STARTUP_HOOKS from a developer's shell. Matched against the entry
    // assembly's name and the process name, without regard to case.
    private static readonly string[] s_builtInExclusions =
    {
        "dotnet", "MSBuild", "VBCSCompiler", "csc", "vbc", "testhost", "vstest.console",
        "Microsoft.TestPlatform.*", "dotnet-*", "NuGet.*", "Microsoft.Build.*", "Microsoft.CodeAnalysis.*",
        "Governor.Cli", "governor",
    };

    public static void Initialize()
    {
        try
        {
            Run();
        }
        catch (Exception ex)
        {
            FallbackLog($"Governor could not start; the app runs without it. {ex}");
        }
    }

    private static void Run()
    {
        if (IsOff(Environment.GetEnvironmentVariable("GOVERNOR_ENABLED")))
        {
            return;
        }

        string hookPath = typeof(StartupHook).Assembly.Location;
        string home = Path.GetDirectoryName(hookPath) ?? ".";

        if (AppContext.GetData(LoadedKey) is string firstHome)
        {
            // Listed twice in DOTNET_STARTUP_HOOKS (same or another home): the runtime calls
            // Initialize again on the assembly it already loaded. Tell the first agent, do nothing else.
            string message = $"Governor is listed more than once in DOTNET_STARTUP_HOOKS ('{Environment.GetEnvironmentVariable("DOTNET_STARTUP_HOOKS")}'); the agent from '{firstHome}' is active and this load is ignored. Remove the duplicate entry.";
            if (AppContext.GetData(DuplicateReporterKey) is Action<string> report)
            {
                report(message);
            }
            else
            {
                FallbackLog(message);
            }

            return;
        }

        AppContext.SetData(LoadedKey, home);

        string? excludedBy = ExcludedBy();
        if (excludedBy is not null)
        {
            AppContext.SetData("Governor.Excluded", excludedBy);
            return;
        }

        string coreDir = Path.Combine(home, "core");
        var context = new AgentLoadContext(ReadyToRunDirectory(coreDir), coreDir);
        var core = context.LoadFromAssemblyName(new AssemblyName("Governor.Core"))
            ?? throw new FileNotFoundException($"Governor.Core.dll is not in {coreDir}; the agent home is incomplete.");
        var entry = core.GetType("Governor.Core.AgentEntry", throwOnError: true)!
            .GetMethod("Start", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
        entry.Invoke(null, new object[] { home });
    }

    private static string? ExcludedBy()
    {
        string entryName = Assembly.GetEntryAssembly()?.GetName().Name ?? string.Empty;
        string processName = string.Empty;
        try
        {
            processName = Path.GetFileNameWithoutExtension(Environment.ProcessPath ?? string.Empty);
        }
        catch (Exception)
        {
            // Process path is informational only.
        }

        // "dotnet" as a process name is every framework-dependent app ("dotnet app.dll"), so
        // built-in patterns are matched against the entry assembly only.
        foreach (string pattern in s_builtInExclusions)
        {
            if (Matches(pattern, entryName))
            {
                return $"built-in exclusion '{pattern}'";
            }
        }

        string? configured = Environment.GetEnvironmentVariable("GOVERNOR_EXCLUDE_PROCESSES");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            foreach (string raw in configured.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (Matches(raw, entryName) || Matches(raw, processName))
                {
                    return $"GOVERNOR_EXCLUDE_PROCESSES entry '{raw}'";
                }
            }
        }

        return null;
    }

    // A trailing '*' matches any suffix; otherwise the whole name must match.
    private static bool Matches(string pattern, string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        return pattern.EndsWith('*')
            ? name.StartsWith(pattern.AsSpan(0, pattern.Length - 1), StringComparison.OrdinalIgnoreCase)
            : string.Equals(pattern, name, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The ReadyToRun images compiled for the running runtime (Release builds put them in
    /// <c>net&lt;major&gt;.0</c> next to the IL build); ReadyToRun code compiled for another major
    /// version would be ignored, so only the exact match is used.
    /// </summary>
    private static string? ReadyToRunDirectory(string directory)
    {
        string candidate = Path.Combine(directory, $"net{Environment.Version.Major}.0");
        return Directory.Exists(candidate) ? candidate : null;
    }

    private static bool IsOff(string? value) =>
        value is not null && (value.Equals("false", StringComparison.OrdinalIgnoreCase) || value == "0"
            || value.Equals("off", StringComparison.OrdinalIgnoreCase) || value.Equals("no", StringComparison.OrdinalIgnoreCase));

    // Used only when the core could not start its own log: one line in the log directory (or
    // the temp directory), never the app's stdout or stderr.
    private static void FallbackLog(string message)
    {
        try
        {
            string dir = Environment.GetEnvironmentVariable("GOVERNOR_LOG_DIR") ?? Path.Combine(Path.GetTempPath(), "governor");
            Directory.CreateDirectory(dir);
            File.AppendAllText(Path.Combine(dir, $"governor-startup-{Environment.ProcessId}.log"), $"{DateTimeOffset.UtcNow:O} {message}{Environment.NewLine}");
        }
        catch (Exception)
        {
            // Nowhere left to report; the app must still start.
        }
    }

    /// <summary>
    /// The agent's AssemblyLoadContext: the core and its dependencies (Serilog, YamlDotNet,
    /// ...) from <c>core/</c> (its ReadyToRun folder for this runtime first); everything else (the
    /// framework) from the default context. The app's own copies of those libraries stay in the
    /// default context, so versions never clash.
    /// </summary>
    private sealed class AgentLoadContext : AssemblyLoadContext
    {
        private readonly string? _readyToRun;
        private readonly string _directory;

        public AgentLoadContext(string? readyToRun, string directory)
            : base("Governor", isCollectible: false)
        {
            _readyToRun = readyToRun;
            _directory = directory;
        }

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            string file = assemblyName.Name + ".dll";
            if (_readyToRun is not null && File.Exists(Path.Combine(_readyToRun, file)))
            {
                return LoadFromAssemblyPath(Path.Combine(_readyToRun, file));
            }

            string path = Path.Combine(_directory, file);
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
