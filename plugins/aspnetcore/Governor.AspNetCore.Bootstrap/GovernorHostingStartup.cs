using Microsoft.AspNetCore.Hosting;

[assembly: HostingStartup(typeof(Governor.AspNetCore.Bootstrap.GovernorHostingStartup))]

namespace Governor.AspNetCore.Bootstrap;

/// <summary>
/// Runs inside every web host the app builds (WebApplication, Host.ConfigureWebHostDefaults and the
/// old WebHost), before the app's own service registrations. Everything Governor does with the
/// host lives in the aspnetcore plugin; this class only hands the builder over, so that the
/// assembly living in the app's context stays trivially small and never needs changing.
/// </summary>
internal sealed class GovernorHostingStartup : IHostingStartup
{
    /// <summary>
    /// AppContext key under which the plugin publishes an <c>Action&lt;object&gt;</c> receiving the
    /// <see cref="IWebHostBuilder"/>. BCL-typed because the plugin lives in another
    /// AssemblyLoadContext; ASP.NET Core types still unify since the plugin resolves them from Default.
    /// </summary>
    private const string ConfigureKey = "Governor.AspNetCore.Configure";

    /// <summary>A ManualResetEventSlim the agent sets when its start is over (the plugin starts alongside the app).</summary>
    private const string StartingKey = "Governor.Starting";

    // A plugin stuck in its start is failed by the agent after its start timeout (5 s by default);
    // the host is not held longer than that.
    private static readonly TimeSpan s_longestWait = TimeSpan.FromSeconds(5);

    public void Configure(IWebHostBuilder builder)
    {
        // Absent when the plugin is stopped, disabled or failed: the host is left untouched.
        if (WaitForPlugin() is Action<object> configure)
        {
            try
            {
                configure(builder);
            }
            catch (Exception)
            {
                // The plugin logs its own failures; a hosting startup that throws would only be
                // logged by ASP.NET Core as a startup error. The app must start regardless.
            }
        }
    }

    /// <summary>
    /// The plugin's callback; while the agent is still starting (the app's Main runs alongside it
    /// and built its host early), waits until the plugin has published it or the start is over.
    /// </summary>
    private static Action<object>? WaitForPlugin()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (AppContext.GetData(ConfigureKey) is Action<object> configure)
            {
                return configure;
            }

            if (AppContext.GetData(StartingKey) is not System.Threading.ManualResetEventSlim starting || starting.IsSet || clock.Elapsed > s_longestWait)
            {
                return AppContext.GetData(ConfigureKey) as Action<object>;
            }

            // The plugin is among the first the agent starts: milliseconds, polled.
            starting.Wait(1);
        }
    }
}
