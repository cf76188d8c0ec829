using Microsoft.AspNetCore.Mvc;

// The generic host with a web host inside, configured by a Startup class.
Host.CreateDefaultBuilder(args)
    .ConfigureLogging(logging => logging.ClearProviders())
    .ConfigureWebHostDefaults(web => web.UseStartup<Startup>())
    .Build()
    .Run();

internal sealed class Startup
{
    public void ConfigureServices(IServiceCollection services) => services.AddControllers();

    public void Configure(IApplicationBuilder app)
    {
        app.UseRouting();
        app.UseEndpoints(endpoints =>
        {
            endpoints.MapGet("/", () => "hello from generic host");
            endpoints.MapGet("/items/{id:int}", (int id) => $"generic item {id}");
            endpoints.MapGet("/slow", async (int? ms) =>
            {
                await Task.Delay(ms ?? 200);
                return "slow done";
            });
            endpoints.MapGet("/unhandled/boom", string () => throw new ApplicationException("generic boom"));
            endpoints.MapControllers();
        });
    }
}

[ApiController]
[Route("api/orders")]
public sealed class OrdersController : ControllerBase
{
    [HttpGet("{id}")]
    public string Get(string id) => $"generic order {id}";
}
