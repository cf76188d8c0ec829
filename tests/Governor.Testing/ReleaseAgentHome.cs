using System.Security.Cryptography;
using System.Text;

namespace Governor.Testing;

/// <summary>
/// An agent home built the way it ships: <c>dotnet build -c Release</c> of the startup hook and the
/// core, which runs build/ReadyToRun.targets (ReadyToRun images per runtime major in
/// core/net&lt;major&gt;.0/, with whatever that file includes or leaves out). Built into
/// artifacts/test-homes/release/ with a private artifacts path (it never touches the Debug build
/// or artifacts/governor), once per change of the agent's sources or the build files, and shared
/// by test processes through a cross-process lock. About 30-60 s when it has to build.
/// </summary>
public static class ReleaseAgentHome
{
    private static readonly object _lock = new();
    private static string? s_home;

    /// <summary>The directory to pass to <see cref="AgentHomeCopy"/> as its source.</summary>
    public static string Path
    {
        get
        {
            lock (_lock)
            {
                return s_home ??= Build();
            }
        }
    }

    private static string Build()
    {
        string root = RepoPaths.Combine("artifacts", "test-homes");
        string home = System.IO.Path.Combine(root, "release", "governor");
        string stamp = System.IO.Path.Combine(root, "release", ".stamp");
        string hash = InputHash();
        using var gate = CrossProcessLock.Acquire(System.IO.Path.Combine(root, ".release.lock"), TimeSpan.FromMinutes(15));
        if (File.Exists(stamp) && File.ReadAllText(stamp) == hash && File.Exists(System.IO.Path.Combine(home, "Governor.StartupHook.dll")))
        {
            return home;
        }

        if (Directory.Exists(home))
        {
            Directory.Delete(home, recursive: true);
        }

        // GovernorHome is a global property here, so it overrides Directory.Build.props' value.
        // The two interception plugins whose load-time laziness is measured on the shipped layout.
        foreach (string project in new[] { "agent/Governor.StartupHook", "agent/Governor.Core", "plugins/adonet/Governor.Plugins.AdoNet", "plugins/httpclient/Governor.Plugins.HttpClient" })
        {
            string args = $"build \"{RepoPaths.Combine(project)}\" -c Release -nologo -p:GovernorHome=\"{home}/\" --artifacts-path \"{System.IO.Path.Combine(root, ".build")}\"";
            var (code, output) = TestApps.Run("dotnet", args, TimeSpan.FromMinutes(10));
            if (code != 0)
            {
                throw new InvalidOperationException($"Building the Release agent home ({project}) failed (exit {code}):\n{output}");
            }
        }

        File.WriteAllText(stamp, hash);
        return home;
    }

    /// <summary>A hash of everything the Release home is built from.</summary>
    private static string InputHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var files = Directory.EnumerateFiles(RepoPaths.Combine("agent"), "*", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(RepoPaths.Combine("plugins", "adonet"), "*", SearchOption.AllDirectories))
            .Concat(Directory.EnumerateFiles(RepoPaths.Combine("plugins", "httpclient"), "*", SearchOption.AllDirectories))
            .Concat(Directory.EnumerateFiles(RepoPaths.Combine("build"), "*", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Concat(new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" }.Select(f => RepoPaths.Combine(f)))
            .Where(File.Exists)
            .OrderBy(f => f, StringComparer.Ordinal);
        foreach (string file in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(System.IO.Path.GetRelativePath(RepoPaths.Root, file)));
            sha.AppendData(File.ReadAllBytes(file));
        }

        return Convert.ToHexString(sha.GetHashAndReset());
    }
}
