using System.Collections;
using Governor.Core.Plugins;
using Governor.Core.Settings;
using Governor.Testing;
using Xunit;

namespace Governor.Core.Tests.Plugins;

public sealed class PluginTogglesTests
{
    private static readonly PluginManifest s_throttle = new("throttle", "1.0", 100, "a.dll", "T", string.Empty, Array.Empty<string>(), true, null, Array.Empty<string>());
    private static readonly PluginManifest s_optIn = new("optin", "1.0", 100, "a.dll", "T", string.Empty, Array.Empty<string>(), false, null, Array.Empty<string>());

    [Fact]
    public void ResolveEnabled_NothingSet_UsesManifestDefault()
    {
        var store = Store();

        Assert.Equal((true, "enabled by default"), PluginManager.ResolveEnabled(s_throttle, store, Fail));
        Assert.Equal((false, "disabled by default (manifest)"), PluginManager.ResolveEnabled(s_optIn, store, Fail));
    }

    [Fact]
    public void ResolveEnabled_DisabledListInEnvironment_DisablesAndNamesTheVariable()
    {
        var store = Store(env: new Hashtable { ["GOVERNOR_PLUGINS_DISABLED"] = "gray, throttle" });

        Assert.Equal((false, "disabled by GOVERNOR_PLUGINS_DISABLED"), PluginManager.ResolveEnabled(s_throttle, store, Fail));
    }

    [Fact]
    public void ResolveEnabled_ExplicitEnvironmentSwitch_DisablesAndNamesTheVariable()
    {
        var store = Store(env: new Hashtable { ["GOVERNOR_PLUGINS__THROTTLE__ENABLED"] = "false" });

        Assert.Equal((false, "disabled by GOVERNOR_PLUGINS__THROTTLE__ENABLED"), PluginManager.ResolveEnabled(s_throttle, store, Fail));
    }

    [Fact]
    public void ResolveEnabled_ArgumentsOverEnvironmentOverFile_HighestSourceWins()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("governor.json", """{ "plugins": { "throttle": { "enabled": false }, "optin": { "enabled": true } } }""");
        var env = new Hashtable { ["GOVERNOR_PLUGINS__THROTTLE__ENABLED"] = "true", ["GOVERNOR_PLUGINS_DISABLED"] = "optin" };
        var args = new[] { "--governor:plugins:disabled=throttle" };

        Assert.Equal((false, "disabled by --governor:plugins:disabled"), PluginManager.ResolveEnabled(s_throttle, Store(args, env, file), Fail));
        Assert.Equal((true, "enabled by GOVERNOR_PLUGINS__THROTTLE__ENABLED"), PluginManager.ResolveEnabled(s_throttle, Store(null, env, file), Fail));
        Assert.Equal((false, "disabled by governor.json (plugins:throttle:enabled)"), PluginManager.ResolveEnabled(s_throttle, Store(null, null, file), Fail));
        Assert.Equal((false, "disabled by GOVERNOR_PLUGINS_DISABLED"), PluginManager.ResolveEnabled(s_optIn, Store(null, env, file), Fail));
        Assert.Equal((true, "enabled by governor.json (plugins:optin:enabled)"), PluginManager.ResolveEnabled(s_optIn, Store(null, null, file), Fail));
    }

    [Fact]
    public void ResolveEnabled_ExplicitSwitchBeatsListInSameSource()
    {
        var env = new Hashtable { ["GOVERNOR_PLUGINS_DISABLED"] = "throttle", ["GOVERNOR_PLUGINS__THROTTLE__ENABLED"] = "true" };

        Assert.True(PluginManager.ResolveEnabled(s_throttle, Store(env: env), Fail).Enabled);
    }

    [Fact]
    public void ResolveEnabled_BadBoolean_WarnsWithKeySourceAndAcceptedValuesAndFallsThrough()
    {
        var warnings = new List<string>();
        var env = new Hashtable { ["GOVERNOR_PLUGINS__THROTTLE__ENABLED"] = "nope" };

        var result = PluginManager.ResolveEnabled(s_throttle, Store(env: env), warnings.Add);

        Assert.Equal((true, "enabled by default"), result);
        var warning = Assert.Single(warnings);
        Assert.Contains("governor:plugins:throttle:enabled = 'nope'", warning);
        Assert.Contains("GOVERNOR_PLUGINS__THROTTLE__ENABLED", warning);
        Assert.Contains("use true or false", warning);
    }

    [Fact]
    public void WarnUnknownNames_TypoInListAndInKey_WarnsNamingKnownPlugins()
    {
        using var dir = new TempDirectory();
        dir.Write("plugins/throttle/plugin.json", """{ "name": "throttle", "assembly": "x.dll", "entryType": "X" }""");
        var manager = new PluginManager(new ListLogger(), _ => { });
        manager.Discover(dir.Combine("plugins"));
        var warnings = new List<string>();
        var store = Store(new[] { "--governor:plugins:throtle:enabled=false" }, new Hashtable { ["GOVERNOR_PLUGINS_DISABLED"] = "throttle,sqlgard" });

        manager.WarnUnknownNames(store, warnings.Add);

        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("'sqlgard'") && w.Contains("GOVERNOR_PLUGINS_DISABLED") && w.Contains("known plugins: throttle"));
        Assert.Contains(warnings, w => w.Contains("'throtle'") && w.Contains("known plugins: throttle"));
    }

    private static SettingsStore Store(string[]? args = null, Hashtable? env = null, string? file = null) =>
        SettingsStore.Load(args ?? Array.Empty<string>(), env ?? new Hashtable(), file);

    private static void Fail(string warning) => throw new InvalidOperationException($"unexpected warning: {warning}");
}
