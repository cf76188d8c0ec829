using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.EntityFrameworkCore;
using Shop.Contracts;

// Inventory: answers GetStock over gRPC (HTTP/2 cleartext). Knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(e => e.Protocols = HttpProtocols.Http2));
string dataDir = builder.Configuration["SHOP_DATA_DIR"] ?? Path.Combine(Path.GetTempPath(), "governor-shop");
Directory.CreateDirectory(dataDir);
string port = builder.Configuration["urls"]?.Split(':').LastOrDefault()?.TrimEnd('/') ?? "0";
builder.Services.AddDbContext<InventoryDb>(o => o.UseSqlite($"Data Source={Path.Combine(dataDir, $"inventory-{port}.db")}"));
string servedBy = $"inventory@{builder.Configuration["SHOP_VERSION"] ?? "v1"}";

var app = builder.Build();
using (var scope = app.Services.CreateScope())
{
    var db = scope.ServiceProvider.GetRequiredService<InventoryDb>();
    db.Database.EnsureCreated();
    if (!db.Items.Any())
    {
        db.Items.AddRange(Enumerable.Range(1, 50).Select(i => new Item { Sku = $"SKU-{i:D3}", Quantity = 10 * i }));
        db.SaveChanges();
    }
}

app.MapGet("/health", () => Results.Ok(new { service = servedBy }));
app.MapPost("/shop.inventory.v1.Inventory/GetStock", (HttpContext context, InventoryDb db) =>
    GrpcServer.UnaryAsync(context, StockRequest.Parser, async (request, ct) =>
    {
        var item = await db.Items.AsNoTracking().FirstOrDefaultAsync(i => i.Sku == request.Sku, ct)
            ?? throw new KeyNotFoundException($"unknown SKU '{request.Sku}'");
        return new StockReply { Sku = item.Sku, Quantity = item.Quantity, ServedBy = servedBy };
    }));

app.Run();

internal sealed class Item
{
    public int Id { get; set; }

    public string Sku { get; set; } = string.Empty;

    public int Quantity { get; set; }
}

internal sealed class InventoryDb : DbContext
{
    public InventoryDb(DbContextOptions<InventoryDb> options)
        : base(options)
    {
    }

    public DbSet<Item> Items => Set<Item>();
}
