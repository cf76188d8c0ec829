namespace Governor.Plugins.SqlGuard.Templates;

/// <summary>
/// The lexical rules that differ between databases and change what a literal, a comment or a
/// quoted identifier is. Chosen from the provider's assembly name (<see cref="Governor.Interception.SqlCall.Provider"/>).
/// </summary>
internal enum SqlDialect
{
    /// <summary>ANSI: '...' strings without backslash escapes, "..." identifiers, -- and /* */ comments.</summary>
    Generic,

    /// <summary>Adds E'...' (backslash escapes), $$...$$ and $tag$...$tag$ strings, $1 parameters, nested comments, :: casts.</summary>
    PostgreSql,

    /// <summary>Adds [identifiers], N'...' strings, nested comments, #temp tables.</summary>
    SqlServer,

    /// <summary>Adds backslash escapes, "..." strings, `identifiers`, # comments, _charset'...' introducers.</summary>
    MySql,

    /// <summary>Adds [identifiers] and `identifiers`, X'...' blobs.</summary>
    Sqlite,
}

internal static class SqlDialects
{
    /// <summary>Maps a provider (the command type's assembly name) to its dialect; unknown providers are <see cref="SqlDialect.Generic"/>.</summary>
    public static SqlDialect FromProvider(string? provider)
    {
        if (string.IsNullOrEmpty(provider))
        {
            return SqlDialect.Generic;
        }

        if (provider.StartsWith("Npgsql", StringComparison.OrdinalIgnoreCase))
        {
            return SqlDialect.PostgreSql;
        }

        if (provider.Contains("SqlClient", StringComparison.OrdinalIgnoreCase))
        {
            return SqlDialect.SqlServer;
        }

        if (provider.Contains("MySql", StringComparison.OrdinalIgnoreCase))
        {
            return SqlDialect.MySql;
        }

        if (provider.Contains("Sqlite", StringComparison.OrdinalIgnoreCase))
        {
            return SqlDialect.Sqlite;
        }

        return SqlDialect.Generic;
    }
}
