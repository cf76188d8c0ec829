using System.Collections;
using Governor.Core.Settings;
using Governor.Testing;
using Xunit;

namespace Governor.Core.Tests.Settings;

public sealed class SettingsStoreTests
{
    [Fact]
    public void ReadArgs_GovernorPrefixedArguments_BecomeKeysAndOthersAreIgnored()
    {
        var settings = SettingsStore.ReadArgs(new[] { "--urls", "http://x", "--governor:plugins:throttle:enabled=false", "--governor:plugins:disabled=gray,sqlguard", "--Governor:log:level=Debug" });

        Assert.Equal(3, settings.Count);
        Assert.Equal(("plugins:throttle:enabled", "false"), (settings[0].Key, settings[0].Value));
        Assert.Equal("--governor:plugins:throttle:enabled", settings[0].Source);
        Assert.Equal(("plugins:disabled", "gray,sqlguard"), (settings[1].Key, settings[1].Value));
        Assert.Equal("Debug", settings[2].Value);
    }

    [Fact]
    public void ReadEnvironment_FlatAliasesAndDoubleUnderscoreSections_MapToKeys()
    {
        var env = new Hashtable
        {
            ["GOVERNOR_PLUGINS_DISABLED"] = "throttle",
            ["GOVERNOR_PLUGINS__THROTTLE__ENABLED"] = "false",
            ["GOVERNOR_LOG_DIR"] = "/var/log/x",
            ["GOVERNOR_PLUGINS__LOSSLESS__DRAIN_DELAY"] = "3s",
            ["PATH"] = "/bin",
        };

        var store = SettingsStore.Load(Array.Empty<string>(), env, null);

        Assert.Equal("throttle", store.Get("plugins:disabled")?.Value);
        Assert.Equal("GOVERNOR_PLUGINS_DISABLED", store.Get("plugins:disabled")?.Source);
        Assert.Equal("false", store.Get("plugins:throttle:enabled")?.Value);
        Assert.Equal("/var/log/x", store.Get("log:dir")?.Value);
        // '_' and '-' and case do not matter in keys.
        Assert.Equal("3s", store.Get("plugins:lossless:drainDelay")?.Value);
        Assert.Equal("3s", store.Get("Plugins:Lossless:drain-delay")?.Value);
        Assert.Null(store.Get("path"));
    }

    [Fact]
    public void Get_SameKeyInEverySource_ArgumentsBeatEnvironmentBeatFile()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("governor.json", """{ "log": { "level": "Error", "dir": "/from-file" }, "tag": "file-tag" }""");
        var env = new Hashtable { ["GOVERNOR_LOG_LEVEL"] = "Warning", ["GOVERNOR_LOG_DIR"] = "/from-env" };

        var store = SettingsStore.Load(new[] { "--governor:log:level=Debug" }, env, file);

        Assert.Equal("Debug", store.Get("log:level")?.Value);
        Assert.Equal("/from-env", store.Get("log:dir")?.Value);
        Assert.Equal("file-tag", store.Get("tag")?.Value);
        Assert.Equal("governor.json (tag)", store.Get("tag")?.Source);
    }

    [Fact]
    public void Load_MalformedConfigFile_ReportsTheFileAndTheFixAndIgnoresIt()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("governor.json", "{ \"plugins\": { \"throttle\": ");

        var store = SettingsStore.Load(Array.Empty<string>(), new Hashtable(), file);

        var problem = Assert.Single(store.Problems);
        Assert.Contains(file, problem);
        Assert.Contains("cannot be read as JSON", problem);
        Assert.Contains("ignored", problem);
        Assert.Empty(store.File);
    }

    [Fact]
    public void Load_ConfigWrappedInGovernorSection_IsUnwrapped()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("governor.json", """{ "governor": { "plugins": { "gray": { "enabled": false } } } }""");

        var store = SettingsStore.Load(Array.Empty<string>(), new Hashtable(), file);

        Assert.Equal("false", store.Get("plugins:gray:enabled")?.Value);
    }

    [Fact]
    public void GetInt_InvalidValue_WarnsOnceNamingKeySourceAndAcceptedValuesAndUsesDefault()
    {
        var store = SettingsStore.Load(Array.Empty<string>(), new Hashtable { ["GOVERNOR_PLUGINS__THROTTLE__LIMIT"] = "lots" }, null);
        var warnings = new List<string>();
        var reader = new SettingsReader(() => store, warnings.Add);

        Assert.Equal(7, reader.GetInt("plugins:throttle:limit", 7, 1, 100));
        Assert.Equal(7, reader.GetInt("plugins:throttle:limit", 7, 1, 100));

        var warning = Assert.Single(warnings);
        Assert.Contains("governor:plugins:throttle:limit", warning, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("GOVERNOR_PLUGINS__THROTTLE__LIMIT", warning);
        Assert.Contains("a whole number from 1 to 100", warning);
        Assert.Contains("default (7)", warning);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("2s", 2000)]
    [InlineData("1.5s", 1500)]
    [InlineData("3", 3000)]
    [InlineData("1m", 60000)]
    public void GetDuration_UnitsAndPlainSeconds_Parse(string text, int expectedMs)
    {
        var store = SettingsStore.Load(new[] { $"--governor:x={text}" }, new Hashtable(), null);
        var reader = new SettingsReader(() => store, _ => throw new InvalidOperationException("no warning expected"));

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), reader.GetDuration("x", TimeSpan.Zero));
    }
}
