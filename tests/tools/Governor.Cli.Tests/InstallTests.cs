using System.Diagnostics;
using Governor.Testing;
using Xunit;

namespace Governor.Cli.Tests;

/// <summary>scripts/install.sh and scripts/pack.sh, into temporary prefixes.</summary>
[Collection(ProcessCollection.Name)]
public sealed class InstallTests : IDisposable
{
    private readonly TempDirectory _dir = new("governor-install");

    private string Prefix => _dir.Combine("opt", "governor");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Install_FromReleaseArchive_InstallsPrintsSystemdLinesAndTheHomeWorks()
    {
        var pack = Script("pack.sh", "--no-build", "--out", _dir.Combine("dist"), "--version", "9.8.7");
        Assert.True(pack.ExitCode == 0, pack.ToString());
        string archive = _dir.Combine("dist", "governor-9.8.7-linux-x64.tar.gz");
        Assert.Equal(archive, pack.Stdout.Trim());

        var install = Script("install.sh", "--prefix", Prefix, archive);

        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.True(File.Exists(Path.Combine(Prefix, "Governor.StartupHook.dll")));
        Assert.True(File.Exists(Path.Combine(Prefix, "core", "Governor.Core.dll")));
        Assert.Contains("version=9.8.7", File.ReadAllText(Path.Combine(Prefix, "VERSION")));
        Assert.Contains($"Governor 9.8.7 installed in {Prefix}", install.Stderr);
        // stdout is a systemd drop-in, and the same list 'governor env --shell systemd' prints.
        Assert.StartsWith($"[Service]\n# Governor 9.8.7: attaches the agent (if the unit already sets DOTNET_STARTUP_HOOKS, join both values with ':')\nEnvironment=DOTNET_STARTUP_HOOKS={Prefix}/Governor.StartupHook.dll\n", install.Stdout);
        // The built-in httpclient plugin wants System.Net.Http JIT-compiled (its manifest's readyToRunExclude).
        Assert.Contains("Environment=DOTNET_ReadyToRunExcludeList=System.Net.Http\n", install.Stdout);
        var env = CliRunner.Run("env", "--home", Prefix, "--shell", "systemd");
        Assert.Equal(install.Stdout.Split('\n').Where(l => l.StartsWith("Environment=", StringComparison.Ordinal)), env.Stdout.Split('\n').Where(l => l.StartsWith("Environment=", StringComparison.Ordinal)));

        // The installed home attaches the agent to a real app.
        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        string logs = _dir.Combine("logs");
        using var process = AppProcess.StartWeb(app, AppProcess.FreePort(), new Dictionary<string, string?> { ["DOTNET_STARTUP_HOOKS"] = Path.Combine(Prefix, "Governor.StartupHook.dll"), ["GOVERNOR_LOG_DIR"] = logs });
        var status = new StatusFile(Path.Combine(logs, $"governor-status-{process.Id}.json")).WaitFor(s => s.GetProperty("summary").GetString()!.Length > 0);
        Assert.Equal(Prefix, status.GetProperty("home").GetString());
    }

    [Fact]
    public void Install_FromFolderTwice_IdempotentKeepsConfigAndRulesAndUninstallsCleanly()
    {
        var first = Script("install.sh", "--prefix", Prefix, RepoPaths.AgentHome);
        Assert.True(first.ExitCode == 0, first.ToString());
        File.WriteAllText(Path.Combine(Prefix, "governor.json"), """{ "log": { "level": "Debug" } }""");
        File.WriteAllText(Path.Combine(Prefix, "rules", "mine.yaml"), "# operator's rule\n");
        var before = Listing(Prefix);

        var second = Script("install.sh", "--prefix", Prefix, RepoPaths.AgentHome);

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(first.Stdout, second.Stdout);
        Assert.Equal(before.Where(f => f != ".governor-install"), Listing(Prefix).Where(f => f != ".governor-install"));
        Assert.Equal("""{ "log": { "level": "Debug" } }""", File.ReadAllText(Path.Combine(Prefix, "governor.json")));
        Assert.Equal("# operator's rule\n", File.ReadAllText(Path.Combine(Prefix, "rules", "mine.yaml")));
        // No staging or backup folders are left beside the prefix.
        Assert.Equal(new[] { "governor" }, Directory.GetFileSystemEntries(Path.GetDirectoryName(Prefix)!).Select(Path.GetFileName));

        var uninstall = Script("install.sh", "--prefix", Prefix, "--uninstall");
        Assert.True(uninstall.ExitCode == 0, uninstall.ToString());
        Assert.False(Directory.Exists(Prefix));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(Prefix)!));
        var again = Script("install.sh", "--prefix", Prefix, "--uninstall");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("nothing installed", again.Stderr);
    }

    [Fact]
    public void Uninstall_HomeStillNamedByARunningProcessOrUnit_RefusedUnlessForced()
    {
        Assert.Equal(0, Script("install.sh", "--prefix", Prefix, RepoPaths.AgentHome).ExitCode);
        string units = _dir.Combine("units");
        Directory.CreateDirectory(units);
        File.WriteAllText(Path.Combine(units, "app.service"), $"[Service]\nEnvironment=DOTNET_STARTUP_HOOKS={Prefix}/Governor.StartupHook.dll\n");
        using var user = AppProcess.Start("sleep", "30", new Dictionary<string, string?> { ["DOTNET_STARTUP_HOOKS"] = $"{Prefix}/Governor.StartupHook.dll" });
        var env = new Dictionary<string, string?> { ["GOVERNOR_INSTALL_UNIT_DIRS"] = units };

        var refused = Script(env, "install.sh", "--prefix", Prefix, "--uninstall");

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"unit {units}/app.service", refused.Stderr);
        Assert.Contains($"process {user.Id} (sleep 30", refused.Stderr);
        Assert.True(Directory.Exists(Prefix));

        var forced = Script(env, "install.sh", "--prefix", Prefix, "--uninstall", "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.False(Directory.Exists(Prefix));
    }

    [Theory]
    [InlineData("missing", 1, "/no/such/governor-1.0.0-linux-x64.tar.gz not found.")]
    [InlineData("not-a-home", 1, "is not a Governor agent home (it needs Governor.StartupHook.dll and core/Governor.Core.dll)")]
    [InlineData("bad-archive", 1, "cannot unpack")]
    [InlineData("arch", 1, "this Governor build is for x86_64 (linux-x64); this machine is aarch64.")]
    [InlineData("usage", 2, "unknown option '--bogus'")]
    public void Install_BadInput_FailsClearlyWithoutTouchingThePrefix(string scenario, int exitCode, string message)
    {
        var env = new Dictionary<string, string?>();
        string[] args = scenario switch
        {
            "missing" => new[] { "--prefix", Prefix, "/no/such/governor-1.0.0-linux-x64.tar.gz" },
            "not-a-home" => new[] { "--prefix", Prefix, _dir.Path },
            "bad-archive" => new[] { "--prefix", Prefix, _dir.Write("governor-1.0.0-linux-x64.tar.gz", "not a tarball") },
            "usage" => new[] { "--bogus" },
            _ => new[] { "--prefix", Prefix, RepoPaths.AgentHome },
        };
        if (scenario == "arch")
        {
            env["GOVERNOR_INSTALL_ARCH"] = "aarch64";
        }

        var result = Script(env, "install.sh", args);

        Assert.True(result.ExitCode == exitCode, result.ToString());
        Assert.Contains(message, result.Stderr);
        Assert.Equal(string.Empty, result.Stdout);
        Assert.False(Directory.Exists(Prefix));
    }

    private static List<string> Listing(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal).ToList();

    private static CliResult Script(string name, params string[] args) => Script(new Dictionary<string, string?>(), name, args);

    // Runs a script with no stdin, as CI and provisioning tools do.
    private static CliResult Script(Dictionary<string, string?> environment, string name, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        psi.ArgumentList.Add(RepoPaths.Combine("scripts", name));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        CliRunner.Clean(psi.Environment, environment);
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), $"{name} did not finish");
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
