#if NET10_0_OR_GREATER
using Microsoft.EntityFrameworkCore;

/// <summary>EF Core on SQLite: queries (tagged) and SaveChanges, sync and async.</summary>
public static class EfScenarios
{
    public static async Task Run(List<SqlResult> results, string connectionString, string run)
    {
        using (var setup = new ShopContext(connectionString))
        {
            setup.Database.EnsureDeleted();
            setup.Database.EnsureCreated();
        }

        results.Add(Save($"{run}:ef-save-sync", connectionString, db => db.SyncItems.Add(new SyncItem { Name = "one" }), async: false).GetAwaiter().GetResult());
        results.Add(await Save($"{run}:ef-save-async", connectionString, db => db.AsyncItems.Add(new AsyncItem { Name = "two" }), async: true));
        using var context = new ShopContext(connectionString);
        results.Add(Query($"{run}:ef-query-sync", () => string.Join(",", context.SyncItems.TagWith($"case:{run}:ef-query-sync").Select(i => i.Name).ToList())));
        results.Add(await QueryAsync($"{run}:ef-query-async", async () => string.Join(",", await context.AsyncItems.TagWith($"case:{run}:ef-query-async").Select(i => i.Name).ToListAsync())));
    }

    private static async Task<SqlResult> Save(string name, string connectionString, Action<ShopContext> change, bool async)
    {
        try
        {
            using var context = new ShopContext(connectionString);
            change(context);
            int saved = async ? await context.SaveChangesAsync() : context.SaveChanges();
            return new SqlResult(name, saved.ToString());
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex);
        }
    }

    private static SqlResult Query(string name, Func<string> query)
    {
        try
        {
            return new SqlResult(name, query());
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex);
        }
    }

    private static async Task<SqlResult> QueryAsync(string name, Func<Task<string>> query)
    {
        try
        {
            return new SqlResult(name, await query());
        }
        catch (Exception ex)
        {
            return SqlResult.Failed(name, ex);
        }
    }
}

public sealed class ShopContext : DbContext
{
    private readonly string _connectionString;

    public ShopContext(string connectionString) => _connectionString = connectionString;

    public DbSet<SyncItem> SyncItems => Set<SyncItem>();

    public DbSet<AsyncItem> AsyncItems => Set<AsyncItem>();

    protected override void OnConfiguring(DbContextOptionsBuilder options) => options.UseSqlite(_connectionString);
}

public sealed class SyncItem
{
    public int Id { get; set; }

    public string Name { get; set; } = string.Empty;
}

public sealed class AsyncItem
{
    public int Id { get; set; }

    public string Name { get; set; } = string.Empty;
}
#endif
