using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Governor.Patching.TestApp;

/// <summary>Kept apart so that Microsoft.Data.Sqlite loads only when a scenario first runs this.</summary>
internal static class SqliteLoop
{
    /// <summary>Runs at least <paramref name="calls"/> queries, then more (up to 4 s) until <paramref name="enough"/>; returns the count.</summary>
    public static int Run(int calls, Func<bool> enough, bool viaBaseOnly = false)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        DbCommand asBase = command;
        int i = 0;
        while (i < calls || (watch.ElapsedMilliseconds < 4000 && !enough()))
        {
            // Alternate the static type so both the direct and the virtual path are exercised.
            using var reader = i % 2 == 0 && !viaBaseOnly ? command.ExecuteReader() : asBase.ExecuteReader();
            i++;
        }

        return i;
    }
}
