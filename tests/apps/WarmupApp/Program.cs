using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

// A catalog service: EF Core over SQLite, JSON responses, regex validation and highlighting.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
string dbPath = builder.Configuration["db"] ?? Path.Combine(Path.GetTempPath(), $"warmup-{Environment.ProcessId}.db");
builder.Services.AddDbContext<Catalog>(o => o.UseSqlite($"Data Source={dbPath}"));
builder.Services.AddControllers();
var app = builder.Build();

// The database exists before the app starts, as in production: seeded with plain ADO.NET, so
// EF Core's model and queries stay cold until the first request.
Seed.EnsureDatabase(dbPath);

app.MapGet("/health", () => "ok");
app.MapGet("/products", async (string? category, int? page, Catalog db) =>
{
    var items = await db.Products
        .Where(p => p.Category == (category ?? "tools"))
        .OrderBy(p => p.Price).ThenBy(p => p.Id)
        .Skip((page ?? 0) * 20).Take(20)
        .Select(p => new ProductSummary(p.Id, p.Name, p.Price, p.Reviews.Count, p.Reviews.Average(r => (double?)r.Stars) ?? 0))
        .ToListAsync();
    return Results.Ok(new Page<ProductSummary>(category ?? "tools", page ?? 0, items));
});
app.MapGet("/products/{id:int}", async (int id, Catalog db) =>
{
    var product = await db.Products.AsNoTracking().Include(p => p.Reviews).FirstOrDefaultAsync(p => p.Id == id);
    if (product is null)
    {
        return Results.NotFound();
    }

    var sku = Patterns.Sku.Match(product.Sku);
    return Results.Ok(new ProductDetail(product.Id, product.Name, product.Category, product.Price, sku.Groups["family"].Value, int.Parse(sku.Groups["serial"].Value),
        product.Reviews.Select(r => new ReviewView(r.Stars, r.Text, Patterns.Words.Matches(r.Text).Count)).ToList()));
});
app.MapGet("/search", async (string q, Catalog db) =>
{
    if (!Patterns.Query.IsMatch(q))
    {
        return Results.BadRequest(new { error = "query must be 2-40 letters, digits or spaces" });
    }

    string like = $"%{q}%";
    var found = await db.Products.AsNoTracking()
        .Where(p => EF.Functions.Like(p.Name, like) || EF.Functions.Like(p.Description, like))
        .OrderBy(p => p.Id).Take(15)
        .Select(p => new { p.Id, p.Name, p.Description })
        .ToListAsync();
    var highlight = new Regex(Regex.Escape(q), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
    return Results.Ok(found.Select(p => new SearchHit(p.Id, p.Name, highlight.Replace(p.Description, m => $"<b>{m.Value}</b>"))).ToList());
});
app.MapControllers();
app.Run();

[ApiController]
[Route("api/catalog")]
public sealed class CatalogController : ControllerBase
{
    private readonly Catalog _db;

    public CatalogController(Catalog db) => _db = db;

    [HttpGet("{category}/stats")]
    public async Task<ActionResult<CategoryStats>> Stats(string category)
    {
        var prices = await _db.Products.Where(p => p.Category == category).Select(p => p.Price).ToListAsync();
        return prices.Count == 0 ? NotFound() : new CategoryStats(category, prices.Count, prices.Min(), prices.Max(), Math.Round(prices.Average(), 2));
    }
}

public sealed class Catalog : DbContext
{
    public Catalog(DbContextOptions<Catalog> options)
        : base(options)
    {
    }

    public DbSet<Product> Products => Set<Product>();

    public DbSet<Review> Reviews => Set<Review>();
}

public sealed class Product
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public string Category { get; set; } = "";

    public double Price { get; set; }

    public string Sku { get; set; } = "";

    public string Description { get; set; } = "";

    public List<Review> Reviews { get; set; } = new();
}

public sealed class Review
{
    public int Id { get; set; }

    public int ProductId { get; set; }

    public int Stars { get; set; }

    public string Text { get; set; } = "";
}

public sealed record ProductSummary(int Id, string Name, double Price, int Reviews, double Stars);

public sealed record Page<T>(string Category, int Number, List<T> Items);

public sealed record ReviewView(int Stars, string Text, int Words);

public sealed record ProductDetail(int Id, string Name, string Category, double Price, string Family, int Serial, List<ReviewView> Reviews);

public sealed record SearchHit(int Id, string Name, string Snippet);

public sealed record CategoryStats(string Category, int Count, double Min, double Max, double Average);

internal static class Patterns
{
    public static readonly Regex Sku = new(@"^(?<family>[A-Z]{3})-(?<serial>\d{5})-(?<check>[0-9A-F]{2})$", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public static readonly Regex Query = new(@"^[\p{L}\p{N} ]{2,40}$", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public static readonly Regex Words = new(@"\b\w+\b", RegexOptions.Compiled | RegexOptions.CultureInvariant);
}

internal static class Seed
{
    private static readonly string[] s_categories = { "tools", "garden", "kitchen", "office", "toys" };
    private static readonly string[] s_words = { "steel", "oak", "compact", "deluxe", "classic", "pro", "mini", "heavy", "smart", "eco" };

    public static void EnsureDatabase(string path)
    {
        if (File.Exists(path))
        {
            return;
        }

        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        using var tx = connection.BeginTransaction();
        Execute(connection, "CREATE TABLE Products (Id INTEGER PRIMARY KEY, Name TEXT NOT NULL, Category TEXT NOT NULL, Price REAL NOT NULL, Sku TEXT NOT NULL, Description TEXT NOT NULL)");
        Execute(connection, "CREATE TABLE Reviews (Id INTEGER PRIMARY KEY, ProductId INTEGER NOT NULL REFERENCES Products(Id), Stars INTEGER NOT NULL, Text TEXT NOT NULL)");
        Execute(connection, "CREATE INDEX IX_Reviews_ProductId ON Reviews(ProductId)");
        var random = new Random(42);
        int review = 1;
        for (int id = 1; id <= 1000; id++)
        {
            string a = s_words[random.Next(s_words.Length)];
            string b = s_words[random.Next(s_words.Length)];
            string name = $"{a} {b} item {id}";
            string category = s_categories[id % s_categories.Length];
            string sku = $"{category[..3].ToUpperInvariant()}-{id:00000}-{(id * 7) % 256:X2}";
            Execute(connection, "INSERT INTO Products VALUES ($id, $name, $category, $price, $sku, $description)",
                ("$id", id), ("$name", name), ("$category", category), ("$price", Math.Round(5 + random.NextDouble() * 500, 2)), ("$sku", sku),
                ("$description", $"A {a} {category} product, {b} finish, built to last. Steel parts, oak handle."));
            for (int r = 0; r < 4; r++)
            {
                Execute(connection, "INSERT INTO Reviews VALUES ($id, $product, $stars, $text)",
                    ("$id", review++), ("$product", id), ("$stars", 1 + random.Next(5)), ("$text", $"The {a} {b} works well for {category} jobs, review {r}"));
            }
        }

        tx.Commit();
    }

    private static void Execute(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (n, v) in parameters)
        {
            command.Parameters.AddWithValue(n, v);
        }

        command.ExecuteNonQuery();
    }
}
