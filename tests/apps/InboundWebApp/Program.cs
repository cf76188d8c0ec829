using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

// A WebApplication (minimal APIs + controllers + gRPC). It knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddControllers();
var app = builder.Build();

// The app's own error handling, for /handled/* only: it must still run with Governor attached.
app.UseWhen(c => c.Request.Path.StartsWithSegments("/handled"), branch => branch.UseExceptionHandler(new ExceptionHandlerOptions
{
    ExceptionHandler = async context =>
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        context.Response.StatusCode = 500;
        await context.Response.WriteAsync($"app handled: {error?.Message}");
    },
}));

app.MapGet("/", () => "hello");
app.MapGet("/items/{id:int}", (int id) => $"item {id}");
app.MapPost("/items", () => Results.Created("/items/7", "created"));
app.MapGet("/status/{code:int}", (int code) => Results.StatusCode(code));
app.MapGet("/slow", async (int? ms) =>
{
    await Task.Delay(ms ?? 200);
    return "slow done";
});
app.MapGet("/headers/{name}", (string name, HttpContext c) => c.Request.Headers[name].ToString());
app.MapGet("/handled/boom", string () => throw new InvalidOperationException("boom handled"));
app.MapGet("/unhandled/boom", string () => throw new ApplicationException("boom unhandled"));
app.MapGet("/context", ContextProbe.Report);
app.MapPost("/greet.Greeter/SayHello", Greeter.SayHello);
app.MapPost("/greet.Greeter/Fail", Greeter.Fail);
app.MapControllers();

ContextProbe.StartBackground();
app.Run();

[ApiController]
[Route("api/orders")]
public sealed class OrdersController : ControllerBase
{
    [HttpGet("{id}")]
    public string Get(string id) => $"order {id}";

    [HttpPost]
    public IActionResult Post() => StatusCode(202, "accepted");
}
