using Microsoft.AspNetCore;

// The pre-generic-host style: WebHost.CreateDefaultBuilder(args).UseStartup<T>().Build().Run().
WebHost.CreateDefaultBuilder(args)
    .ConfigureLogging(logging => logging.ClearProviders())
    .UseStartup<LegacyStartup>()
    .Build()
    .Run();

internal sealed class LegacyStartup
{
    public void ConfigureServices(IServiceCollection services) => services.AddRouting();

    public void Configure(IApplicationBuilder app)
    {
        app.UseRouting();
        app.UseEndpoints(endpoints =>
        {
            endpoints.MapGet("/", () => "hello from webhost");
            endpoints.MapGet("/items/{id:int}", (int id) => $"webhost item {id}");
            endpoints.MapPost("/items", () => Results.StatusCode(201));
            endpoints.MapGet("/slow", async (int? ms) =>
            {
                await Task.Delay(ms ?? 200);
                return "slow done";
            });
        });
        // A terminal middleware after routing, as older apps have: no endpoint, no route template.
        app.Run(context => context.Response.WriteAsync("fallback " + context.Request.Path));
    }
}
