using System.Net.Http.Json;
using System.Text.Json;

// Gateway: the public edge of the shop. Knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
string servedBy = $"gateway@{builder.Configuration["SHOP_VERSION"] ?? "v1"}";
builder.Services.AddHttpClient("orders", c => c.BaseAddress = new Uri(builder.Configuration["ORDERS_URL"] ?? "http://127.0.0.1:5102"));
var app = builder.Build();

app.MapGet("/health", () => Results.Ok(new { service = servedBy }));

app.MapGet("/api/orders/{id:int}", (int id, IHttpClientFactory factory, CancellationToken ct) => Forward(factory, HttpMethod.Get, $"/orders/{id}", null, ct));
app.MapPost("/api/orders", async (HttpRequest request, IHttpClientFactory factory, CancellationToken ct) =>
    await Forward(factory, HttpMethod.Post, "/orders", await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, cancellationToken: ct), ct));
app.MapGet("/api/report", (double? slowSeconds, IHttpClientFactory factory, CancellationToken ct) =>
    Forward(factory, HttpMethod.Get, slowSeconds is null ? "/orders/report" : $"/orders/report?slowSeconds={slowSeconds}", null, ct));

app.Run();

async Task<IResult> Forward(IHttpClientFactory factory, HttpMethod method, string path, JsonElement? body, CancellationToken ct)
{
    var client = factory.CreateClient("orders");
    using var request = new HttpRequestMessage(method, path);
    if (body is not null)
    {
        request.Content = JsonContent.Create(body.Value);
    }

    try
    {
        using var response = await client.SendAsync(request, ct);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        var via = new List<string> { servedBy };
        if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("via", out var downstream) && downstream.ValueKind == JsonValueKind.Array)
        {
            via.AddRange(downstream.EnumerateArray().Select(v => v.GetString() ?? "?"));
        }

        return Results.Json(new { status = (int)response.StatusCode, body = json, via }, statusCode: (int)response.StatusCode);
    }
    catch (HttpRequestException ex)
    {
        return Results.Json(new { error = ex.Message, via = new[] { servedBy } }, statusCode: StatusCodes.Status502BadGateway);
    }
    catch (JsonException)
    {
        return Results.Json(new { error = "orders answered with a non-JSON body", via = new[] { servedBy } }, statusCode: StatusCodes.Status502BadGateway);
    }
}
