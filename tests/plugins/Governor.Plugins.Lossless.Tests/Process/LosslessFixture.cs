using Governor.Testing;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Process;

/// <summary>
/// What the process tests share: one private agent home (the built-in plugins; every process gets
/// its own probe port) and the published test apps, published once per content change.
/// </summary>
public sealed class LosslessFixture : IDisposable
{
    public LosslessFixture()
    {
        Home = new AgentHomeCopy();
        if (Environment.GetEnvironmentVariable("LOSSLESS_TESTS_PLUGIN_OFF") == "1")
        {
            // To check that every process test fails without the feature: the same runs with the
            // lossless plugin disabled (everything else of the agent still attached).
            Home.WriteConfig("""{ "plugins": { "lossless": { "enabled": false } } }""");
        }
    }

    public AgentHomeCopy Home { get; }

    public PublishedApp LosslessApp => TestApps.Publish("tests/apps/LosslessApp", "net10.0");

    public PublishedApp WarmupApp => TestApps.Publish("tests/apps/WarmupApp", "net10.0");

    public static PublishedApp App(string project, string tfm) => TestApps.Publish($"tests/apps/{project}", tfm);

    /// <summary>The agent log of one process (its file names carry the pid).</summary>
    public string LogOf(int pid)
    {
        var text = new System.Text.StringBuilder();
        foreach (string file in Directory.EnumerateFiles(Home.LogDirectory, $"*-{pid}-*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            text.Append(reader.ReadToEnd());
        }

        return text.ToString();
    }

    /// <summary>The 1-minute load average (the machine is shared: every recorded figure says how busy it was).</summary>
    public static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    /// <summary>Writes a measured result where the docs' figures come from (artifacts/test-results).</summary>
    public static void Record(string name, string text)
    {
        string dir = Path.Combine(RepoPaths.Root, "artifacts", "test-results");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, name), text);
    }

    public void Dispose() => Home.Dispose();
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LosslessProcessCollection : ICollectionFixture<LosslessFixture>
{
    public const string Name = "lossless processes";
}
