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

    public void Configure(IWebHostBuilder builder)
    {
        // Absent when the plugin is stopped or disabled: the host is left untouched.
        if (AppContext.GetData(ConfigureKey) is Action<object> configure)
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
}
