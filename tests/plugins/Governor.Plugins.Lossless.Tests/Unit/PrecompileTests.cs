using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class PrecompileTests
{
    [Fact]
    public async Task Precompile_StartedWebApplication_FindsAndPreparesEveryKindOfHandler()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
                builder.Services.AddControllers().AddApplicationPart(typeof(PrecompileProbeController).Assembly);
        await using var app = builder.Build();
        app.Urls.Add("http://127.0.0.1:0");
        app.MapGet("/lambda", (int? id) => $"item {id}");
        app.MapGet("/static", Handlers.Static);
        app.MapGet("/async", Handlers.SlowAsync);
        app.MapGet("/delegate", (RequestDelegate)Handlers.Raw);
        app.MapPost("/greet.Greeter/SayHello", Handlers.Grpc);
        app.MapControllers();
        await app.StartAsync();
        try
        {
            var source = app.Services.GetRequiredService<EndpointDataSource>();
            var found = new HashSet<MethodBase>();
            foreach (var endpoint in source.Endpoints)
            {
                WebHostAccess.Collect(endpoint, found);
            }

            var result = WebHostAccess.Precompile(app.Services, CancellationToken.None);

            var names = found.Select(m => $"{m.DeclaringType?.Name}.{m.Name}").ToList();
            Assert.Contains(names, n => n.Contains("<Precompile_StartedWebApplication_FindsAndPreparesEveryKindOfHandler>", StringComparison.Ordinal));
            Assert.Contains("Handlers.Static", names);
            Assert.Contains("Handlers.SlowAsync", names);
            Assert.Contains("Handlers.Raw", names);
            Assert.Contains("Handlers.Grpc", names);
            Assert.Contains("PrecompileProbeController.Get", names);
            Assert.Contains("PrecompileProbeController..ctor", names);
            Assert.Equal(6, result.Endpoints);
            Assert.Null(result.Note);
            // Each handler, the controller's constructor and the MoveNext of the two async handlers.
            Assert.True(result.Prepared >= found.Count + 2, $"prepared {result.Prepared} of {found.Count} found: {string.Join(", ", names)}");
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public void Precompile_NoRouting_SaysSoAndPreparesNothing()
    {
        var services = new ServiceCollection().BuildServiceProvider();

        var result = WebHostAccess.Precompile(services, CancellationToken.None);

        Assert.Equal(0, result.Prepared);
        Assert.Contains("no endpoint data source", result.Note);
    }

    private static class Handlers
    {
        public static string Static() => "static";

        public static async Task<string> SlowAsync()
        {
            await Task.Yield();
            return "slow";
        }

        public static Task Raw(HttpContext context) => context.Response.WriteAsync("raw");

        public static async Task Grpc(HttpContext context)
        {
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.FlushAsync();
        }
    }
}

[ApiController]
[Route("api/probe")]
public sealed class PrecompileProbeController : ControllerBase
{
    [HttpGet("{id}")]
    public string Get(string id) => $"probe {id}";
}
