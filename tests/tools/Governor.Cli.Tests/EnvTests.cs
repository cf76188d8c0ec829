using System.Diagnostics;
using Governor.Testing;
using Xunit;

namespace Governor.Cli.Tests;

/// <summary><c>governor env</c> for each shell.</summary>
public sealed class EnvTests
{
    [Fact]
    public void Env_Bash_EvaluatedTwiceAppendsTheHookOnceToAnExistingValue()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        var env = CliRunner.Run("env", "--home", home.Home, "--shell", "bash");
        Assert.True(env.ExitCode == 0, env.ToString());
        Assert.Contains($"# Governor agent home: {home.Home} (--home)", env.Stdout);

        // Real bash: an existing hook is kept, ours appended once even when evaluated twice.
        var psi = new ProcessStartInfo("bash", new[] { "-c", $"eval \"$1\"; eval \"$1\"; echo \"$DOTNET_STARTUP_HOOKS\"", "bash", env.Stdout }) { RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment["DOTNET_STARTUP_HOOKS"] = "/opt/x/X.dll";
        using var bash = Process.Start(psi)!;
        string output = bash.StandardOutput.ReadToEnd();
        bash.WaitForExit();
        Assert.Equal($"/opt/x/X.dll:{home.StartupHook}\n", output);
    }

    [Fact]
    public void Env_Bash_PluginWantsReadyToRunExclusion_AppendsItsAssemblyOnceWithSemicolons()
    {
        // The built-in httpclient plugin's manifest lists System.Net.Http in readyToRunExclude.
        using var home = new AgentHomeCopy();
        var env = CliRunner.Run("env", "--home", home.Home, "--shell", "bash");
        Assert.True(env.ExitCode == 0, env.ToString());

        var psi = new ProcessStartInfo("bash", new[] { "-c", "eval \"$1\"; eval \"$1\"; echo \"$DOTNET_ReadyToRunExcludeList\"", "bash", env.Stdout }) { RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment["DOTNET_ReadyToRunExcludeList"] = "My.Assembly";
        using var bash = Process.Start(psi)!;
        string output = bash.StandardOutput.ReadToEnd();
        bash.WaitForExit();
        Assert.Equal("My.Assembly;System.Net.Http\n", output);

        var disabled = CliRunner.Run("env", "--home", home.Home, "--shell", "bash", "--plugins-disabled", "httpclient");
        Assert.DoesNotContain("DOTNET_ReadyToRunExcludeList", disabled.Stdout);
    }

    [Fact]
    public void Env_Systemd_PrintsEnvironmentLinesForTheUnit()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);
        home.AddTestPlugin("probe", "Governor.TestPlugins.ProbePlugin");
        string rules = Path.Combine(home.Root, "my rules");
        Directory.CreateDirectory(rules);

        var result = CliRunner.Run("env", "--home", home.Home, "--shell", "systemd", "--plugins-disabled", "probe", "--rules", rules);

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Stdout.Split('\n').Where(l => l.StartsWith("Environment=", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            new[] { $"Environment=DOTNET_STARTUP_HOOKS={home.StartupHook}", "Environment=GOVERNOR_PLUGINS_DISABLED=probe", $"Environment=\"GOVERNOR_RULES_DIR={rules}\"" },
            lines);
        Assert.Contains("# Add to the [Service] section of the unit", result.Stdout);
    }

    [Fact]
    public void Env_Pwsh_PrintsAppendingAssignment()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);

        var result = CliRunner.Run("env", "--home", home.Home, "--shell", "pwsh");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"$env:DOTNET_STARTUP_HOOKS = (@(($env:DOTNET_STARTUP_HOOKS -split ':') + '{home.StartupHook}') | Where-Object {{ $_ }} | Select-Object -Unique) -join ':'", result.Stdout);
    }

    [Fact]
    public void Env_DefaultShellFromGovernorHome_PrintsBashExport()
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);

        var result = CliRunner.Run(new[] { "env" }, new Dictionary<string, string?> { ["GOVERNOR_HOME"] = home.Home });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"(GOVERNOR_HOME)", result.Stdout);
        Assert.Contains($"export DOTNET_STARTUP_HOOKS=\"${{DOTNET_STARTUP_HOOKS:+$DOTNET_STARTUP_HOOKS:}}\"'{home.StartupHook}'", result.Stdout);
    }

    [Theory]
    [InlineData(new[] { "env", "--shell", "fish" }, "'fish'")]
    [InlineData(new[] { "env", "--home", "/no/such/home" }, "agent home '/no/such/home' (from --home) does not exist")]
    public void Env_BadArguments_UsageErrorNamingTheProblem(string[] args, string message)
    {
        using var home = new AgentHomeCopy(includeBuiltInPlugins: false);

        var result = CliRunner.Run(args, new Dictionary<string, string?> { ["GOVERNOR_HOME"] = home.Home });

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Stderr);
    }
}
