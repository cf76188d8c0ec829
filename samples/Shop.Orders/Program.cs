using System.Data.Common;
using System.Net;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using Shop.Contracts;

// Orders: reads orders from its database and asks inventory for stock over gRPC.
// Knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
string servedBy = $"orders@{builder.Configuration["SHOP_VERSION"] ?? "v1"}";
string inventoryUrl = builder.Configuration["INVENTORY_URL"] ?? "http://127.0.0.1:5103";
string dataDir = builder.Configuration["SHOP_DATA_DIR"] ?? Path.Combine(Path.GetTempPath(), "governor-shop");
Directory.CreateDirectory(dataDir);
string? postgres = builder.Configuration["ORDERS_DB"];
string port = builder.Configuration["urls"]?.Split(':').LastOrDefault()?.TrimEnd('/') ?? "0";
string sqlite = $"Data Source={Path.Combine(dataDir, $"orders-{port}.db")}";
builder.Services.AddHttpClient<InventoryClient>(c => c.BaseAddress = new Uri(inventoryUrl))
    .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { EnableMultipleHttp2Connections = true });

var app = builder.Build();

DbConnection Open()
{
    DbConnection connection = postgres is null ? new SqliteConnection(sqlite) : new NpgsqlConnection(postgres);
    connection.Open();
    if (connection is SqliteConnection lite)
    {
        // SQLite has no sleep(); the report's "simulate a slow database" knob needs one.
        lite.CreateFunction("pg_sleep", (double seconds) =>
        {
            Thread.Sleep(TimeSpan.FromSeconds(seconds));
            return 0;
        });
    }

    return connection;
}

using (var db = Open())
{
    db.Execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, quantity INTEGER NOT NULL, customer TEXT NOT NULL)");
    if (db.ExecuteScalar<long>("SELECT COUNT(*) FROM orders") == 0)
    {
        for (int i = 1; i <= 50; i++)
        {
            db.Execute("INSERT INTO orders (id, sku, quantity, customer) VALUES (@id, @sku, @quantity, @customer)", new { id = i, sku = $"SKU-{i:D3}", quantity = i % 5 + 1, customer = $"customer-{i % 7}" });
        }
    }
}

app.MapGet("/health", () => Results.Ok(new { service = servedBy }));

app.MapGet("/orders/{id:int}", async (int id, InventoryClient inventory, CancellationToken ct) =>
{
    using var db = Open();
    var order = await db.QuerySingleOrDefaultAsync<Order>(new CommandDefinition("SELECT id AS Id, sku AS Sku, quantity AS Quantity, customer AS Customer FROM orders WHERE id = @id", new { id }, cancellationToken: ct));
    if (order is null)
    {
        return Results.NotFound(new { error = $"no order {id}", via = new[] { servedBy } });
    }

    try
    {
        var stock = await inventory.GetStockAsync(new StockRequest { Sku = order.Sku }, ct);
        return Results.Ok(new { order, stock = stock.Quantity, via = new[] { servedBy, stock.ServedBy } });
    }
    catch (GrpcCallException ex)
    {
        return Results.Json(new { error = ex.Message, via = new[] { servedBy } }, statusCode: (int)HttpStatusCode.BadGateway);
    }
});

app.MapPost("/orders", async (NewOrder input, CancellationToken ct) =>
{
    using var db = Open();
    long id = await db.ExecuteScalarAsync<long>(new CommandDefinition("INSERT INTO orders (sku, quantity, customer) VALUES (@Sku, @Quantity, @Customer) RETURNING id", input, cancellationToken: ct));
    return Results.Created($"/orders/{id}", new { id, via = new[] { servedBy } });
});

// A sales report; slowSeconds simulates a database that turned slow (a lock, a missing index).
app.MapGet("/orders/report", async (double? slowSeconds, CancellationToken ct) =>
{
    using var db = Open();
    try
    {
        var rows = (await db.QueryAsync<(string Customer, long Orders)>(new CommandDefinition(
            "WITH pause AS MATERIALIZED (SELECT pg_sleep(@delay) AS p) SELECT customer, COUNT(*) FROM orders, pause GROUP BY customer ORDER BY customer", new { delay = slowSeconds ?? 0 }, cancellationToken: ct))).ToList();
        return Results.Ok(new { customers = rows.Count, via = new[] { servedBy } });
    }
    catch (DbException ex)
    {
        // The app's own handling of database errors.
        return Results.Json(new { error = ex.Message, via = new[] { servedBy } }, statusCode: (int)HttpStatusCode.ServiceUnavailable);
    }
});

app.Run();

internal sealed record Order(long Id, string Sku, long Quantity, string Customer);

internal sealed record NewOrder(string Sku, int Quantity, string Customer);
