using Governor.Plugins.SqlGuard.Templates;
using Xunit;

namespace Governor.Plugins.SqlGuard.Tests.Templates;

public sealed class SqlNormalizerTests
{
    [Theory]
    [InlineData("SELECT * FROM orders WHERE id = 42", "SELECT * FROM orders WHERE id = ?")]
    [InlineData("SELECT * FROM orders WHERE price > 19.99 AND qty < 1e3", "SELECT * FROM orders WHERE price > ? AND qty < ?")]
    [InlineData("SELECT * FROM t WHERE a = .5 OR b = 5.", "SELECT * FROM t WHERE a = ? OR b = ?")]
    [InlineData("SELECT * FROM users WHERE name = 'O''Brien'", "SELECT * FROM users WHERE name = ?")]
    [InlineData("SELECT * FROM t WHERE flag = TRUE AND other = false", "SELECT * FROM t WHERE flag = ? AND other = ?")]
    [InlineData("SELECT * FROM t WHERE b = 0x1F", "SELECT * FROM t WHERE b = ?")]
    [InlineData("SELECT * FROM t WHERE b = X'00ff' OR c = B'0101'", "SELECT * FROM t WHERE b = ? OR c = ?")]
    [InlineData("SELECT * FROM t WHERE x = -1 AND y = +2.5", "SELECT * FROM t WHERE x = ? AND y = ?")]
    [InlineData("SELECT a - 1, b-1 FROM t LIMIT 10 OFFSET 20", "SELECT a - ?, b-? FROM t LIMIT ? OFFSET ?")]
    [InlineData("SELECT col1, t2.col_3 FROM t2", "SELECT col1, t2.col_3 FROM t2")]
    [InlineData("SELECT * FROM t WHERE x IS NULL", "SELECT * FROM t WHERE x IS NULL")]
    public void Normalize_Literals_BecomePlaceholders(string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("SELECT *  FROM\n\torders\r\n  WHERE id = 1", "SELECT * FROM orders WHERE id = ?")]
    [InlineData("   SELECT 1 ;  ", "SELECT ?")]
    [InlineData("SELECT 1;;", "SELECT ?")]
    public void Normalize_Whitespace_CollapsedAndTrimmed(string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("SELECT * FROM t -- the orders\nWHERE id = 1", "SELECT * FROM t WHERE id = ?")]
    [InlineData("/* app: shop, request 123 */ SELECT * FROM t", "SELECT * FROM t")]
    [InlineData("SELECT /*+ INDEX(t ix) */ * FROM t", "SELECT * FROM t")]
    [InlineData("SELECT a/*x*/FROM t", "SELECT a FROM t")]
    [InlineData("SELECT 1 -- trailing comment without newline", "SELECT ?")]
    [InlineData("SELECT '-- not a comment' FROM t", "SELECT ? FROM t")]
    public void Normalize_Comments_Removed(string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (?)")]
    [InlineData("SELECT * FROM t WHERE id IN(1)", "SELECT * FROM t WHERE id IN (?)")]
    [InlineData("SELECT * FROM t WHERE id in ( 'a' , 'b' )", "SELECT * FROM t WHERE id in (?)")]
    [InlineData("SELECT * FROM t WHERE id IN (@p0, @p1, @p2)", "SELECT * FROM t WHERE id IN (?)")]
    [InlineData("SELECT * FROM t WHERE id IN ($1, $2)", "SELECT * FROM t WHERE id IN (?)")]
    [InlineData("SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN (?)")]
    [InlineData("SELECT * FROM t WHERE id IN (-1, NULL, /* c */ 3)", "SELECT * FROM t WHERE id IN (?)")]
    [InlineData("SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = 1)", "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = ?)")]
    [InlineData("SELECT * FROM t WHERE id IN (a, b)", "SELECT * FROM t WHERE id IN (a, b)")]
    [InlineData("SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3])", "SELECT * FROM t WHERE id = ANY(ARRAY[?])")]
    public void Normalize_InLists_Collapse(string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t (a, b) VALUES (?)")]
    [InlineData("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, NULL)", "INSERT INTO t (a, b) VALUES (?)")]
    [InlineData("INSERT INTO t (a, b) VALUES (@p0, @p1), (@p2, @p3)", "INSERT INTO t (a, b) VALUES (?)")]
    [InlineData("INSERT INTO t VALUES (1, DEFAULT) RETURNING id", "INSERT INTO t VALUES (?) RETURNING id")]
    [InlineData("INSERT INTO t (a) VALUES (1), (2) ON CONFLICT (a) DO NOTHING", "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO NOTHING")]
    [InlineData("INSERT INTO t (a) VALUES (now())", "INSERT INTO t (a) VALUES (now())")]
    public void Normalize_ValuesLists_Collapse(string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("SELECT * FROM t WHERE a = @a AND b = 5", "SELECT * FROM t WHERE a = @a AND b = ?")]
    [InlineData("SELECT * FROM t WHERE a = :name", "SELECT * FROM t WHERE a = :name")]
    [InlineData("SELECT * FROM t WHERE a = $1 AND b = $2", "SELECT * FROM t WHERE a = $1 AND b = $2")]
    [InlineData("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?")]
    [InlineData("SELECT @@ROWCOUNT", "SELECT @@ROWCOUNT")]
    public void Normalize_Parameters_KeptAsPlaceholders(string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("PostgreSql", "SELECT $$it's 42$$, $tag$a $$ b$tag$, 1::int, x::text FROM t", "SELECT ?, ?, ?::int, x::text FROM t")]
    [InlineData("PostgreSql", "SELECT E'it\\'s' FROM t WHERE j @> '{}' AND j ? 'k'", "SELECT ? FROM t WHERE j @> ? AND j ? ?")]
    [InlineData("PostgreSql", "SELECT 'a\\' FROM t WHERE b = 1", "SELECT ? FROM t WHERE b = ?")]
    [InlineData("PostgreSql", "SELECT /* outer /* inner */ still comment */ 1", "SELECT ?")]
    [InlineData("PostgreSql", "SELECT arr[1:2] FROM t", "SELECT arr[?:?] FROM t")]
    [InlineData("SqlServer", "SELECT TOP 10 [Order Id], N'ünï' FROM [dbo].[Orders] WHERE x = 1", "SELECT TOP ? [Order Id], ? FROM [dbo].[Orders] WHERE x = ?")]
    [InlineData("SqlServer", "SELECT * FROM #tmp1 WHERE id = @id", "SELECT * FROM #tmp1 WHERE id = @id")]
    [InlineData("MySql", "SELECT `name` FROM t WHERE a = \"x\" AND b = 'it\\'s' # note", "SELECT `name` FROM t WHERE a = ? AND b = ?")]
    [InlineData("MySql", "SELECT _utf8mb4'abc' FROM t", "SELECT ? FROM t")]
    [InlineData("Sqlite", "SELECT \"a b\", [c d], `e` FROM t WHERE x = X'0F'", "SELECT \"a b\", [c d], `e` FROM t WHERE x = ?")]
    [InlineData("Generic", "SELECT \"Quoted 1\" FROM \"T\"", "SELECT \"Quoted 1\" FROM \"T\"")]
    public void Normalize_ProviderDialects_ReadLiteralsAndIdentifiersTheirWay(string dialect, string sql, string expected)
    {
        Assert.Equal(expected, SqlNormalizer.Normalize(sql, Enum.Parse<SqlDialect>(dialect)));
    }

    [Theory]
    [InlineData("Npgsql", "PostgreSql")]
    [InlineData("Microsoft.Data.SqlClient", "SqlServer")]
    [InlineData("System.Data.SqlClient", "SqlServer")]
    [InlineData("MySqlConnector", "MySql")]
    [InlineData("Microsoft.Data.Sqlite", "Sqlite")]
    [InlineData("System.Data.SQLite", "Sqlite")]
    [InlineData("Oracle.ManagedDataAccess", "Generic")]
    [InlineData(null, "Generic")]
    public void FromProvider_KnownProviders_MapToTheirDialect(string? provider, string expected)
    {
        Assert.Equal(Enum.Parse<SqlDialect>(expected), SqlDialects.FromProvider(provider));
    }

    [Theory]
    [InlineData("SELECT * FROM t WHERE id IN (1, 2) AND name = 'x' -- c")]
    [InlineData("INSERT INTO t VALUES (1), (2)")]
    [InlineData("SELECT a - 1 FROM t WHERE x = -1")]
    [InlineData("SELECT $1, @p, :p, ? FROM t")]
    public void Normalize_Template_IsStable(string sql)
    {
        foreach (var dialect in Enum.GetValues<SqlDialect>())
        {
            string once = SqlNormalizer.Normalize(sql, dialect);
            Assert.Equal(once, SqlNormalizer.Normalize(once, dialect));
        }
    }

    [Fact]
    public void Normalize_SameStatementDifferentLiterals_SameTemplate()
    {
        string a = SqlNormalizer.Normalize("SELECT * FROM orders WHERE customer = 'alice' AND id IN (1,2,3) LIMIT 10", SqlDialect.PostgreSql);
        string b = SqlNormalizer.Normalize("select * from orders where customer = 'bob' and id in (7) limit 50", SqlDialect.PostgreSql);

        Assert.Equal("SELECT * FROM orders WHERE customer = ? AND id IN (?) LIMIT ?", a);
        Assert.Equal("select * from orders where customer = ? and id in (?) limit ?", b);
        Assert.Equal(a, b, ignoreCase: true);
    }

    [Fact]
    public void Normalize_VeryLongText_IsCutWithDistinctHash()
    {
        string longA = "SELECT " + string.Join(", ", Enumerable.Range(0, 2000).Select(i => $"col{i}")) + " FROM a";
        string longB = "SELECT " + string.Join(", ", Enumerable.Range(0, 2000).Select(i => $"col{i}")) + " FROM b";

        string a = SqlNormalizer.Normalize(longA, SqlDialect.Generic);
        string b = SqlNormalizer.Normalize(longB, SqlDialect.Generic);

        Assert.Equal(SqlNormalizer.MaxTemplateLength, a.Length);
        Assert.Equal(SqlNormalizer.MaxTemplateLength, b.Length);
        Assert.StartsWith("SELECT col0, col1, ", a);
        Assert.Contains("…#", a);
        Assert.NotEqual(a, b);
        Assert.Equal(a, SqlNormalizer.Normalize(longA, SqlDialect.Generic));
    }

    [Theory]
    [InlineData("SELECT 'unterminated")]
    [InlineData("SELECT /* unterminated")]
    [InlineData("SELECT $$ unterminated")]
    [InlineData("SELECT \"unterminated")]
    [InlineData("'")]
    [InlineData("--")]
    [InlineData("")]
    public void Normalize_BrokenText_DoesNotThrow(string sql)
    {
        foreach (var dialect in Enum.GetValues<SqlDialect>())
        {
            _ = SqlNormalizer.Normalize(sql, dialect);
        }
    }
}
