#if NET10_0_OR_GREATER
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

/// <summary>
/// EF Core for the guard batches: a LINQ query that calls the sleeping function (mapped with
/// HasDbFunction, so the whole statement is EF's own SQL), and SaveChanges of one insert.
/// </summary>
public static class GuardEf
{
    public static GuardScenarios.Prepared Query(SqliteConnection connection, string name, int ms)
    {
        var context = new GuardContext(connection);
        // Two query shapes, so "other" is another template on the same database.
        if (name.StartsWith("other", StringComparison.Ordinal))
        {
            return new GuardScenarios.Prepared(
                () => string.Join(",", context.Rows.Where(r => GuardContext.Sleep(ms, name) >= 0).Select(r => r.Name).ToList()),
                async () => string.Join(",", await context.Rows.Where(r => GuardContext.Sleep(ms, name) >= 0).Select(r => r.Name).ToListAsync()),
                context,
                connection);
        }

        return new GuardScenarios.Prepared(
            () => string.Join(",", context.Rows.Where(r => GuardContext.Sleep(ms, name) >= 0).Select(r => r.Id).ToList()),
            async () => string.Join(",", await context.Rows.Where(r => GuardContext.Sleep(ms, name) >= 0).Select(r => r.Id).ToListAsync()),
            context,
            connection);
    }

    public static GuardScenarios.Prepared Save(SqliteConnection connection, int id, string name)
    {
        var context = new GuardContext(connection);
        context.Orders.Add(new GuardOrder { Id = id, Name = name });
        return new GuardScenarios.Prepared(
            () => context.SaveChanges().ToString(System.Globalization.CultureInfo.InvariantCulture),
            async () => (await context.SaveChangesAsync()).ToString(System.Globalization.CultureInfo.InvariantCulture),
            context,
            connection);
    }
}

public sealed class GuardContext : DbContext
{
    private readonly DbConnection _connection;

    public GuardContext(DbConnection connection) => _connection = connection;

    public DbSet<GuardRow> Rows => Set<GuardRow>();

    public DbSet<GuardOrder> Orders => Set<GuardOrder>();

    /// <summary>SQLite's guard_sleep(ms, name), registered on the connection by the app.</summary>
    public static long Sleep(int ms, string name) => throw new NotSupportedException("runs only inside a query");

    protected override void OnConfiguring(DbContextOptionsBuilder options) => options.UseSqlite(_connection);

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.HasDbFunction(typeof(GuardContext).GetMethod(nameof(Sleep))!).HasName("guard_sleep");
        model.Entity<GuardRow>(e =>
        {
            e.ToTable("guard_rows");
            e.Property(r => r.Id).HasColumnName("id");
            e.Property(r => r.Name).HasColumnName("name");
        });
        model.Entity<GuardOrder>(e =>
        {
            e.ToTable("guard_orders");
            e.Property(o => o.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(o => o.Name).HasColumnName("name");
        });
    }
}

public sealed class GuardRow
{
    public int Id { get; set; }

    public string Name { get; set; } = string.Empty;
}

public sealed class GuardOrder
{
    public int Id { get; set; }

    public string Name { get; set; } = string.Empty;
}
#endif
