using System.Data.Common;
using Governor.Interception;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>A hand-written SqlCall: fixed text, provider and database, no real command.</summary>
internal sealed class FakeSqlCall : SqlCall
{
    public FakeSqlCall(string commandText, string? database = "shop", string provider = "Npgsql", string? dataSource = "tcp://127.0.0.1:5432")
    {
        CommandText = commandText;
        Database = database;
        Provider = provider;
        DataSource = dataSource;
    }

    public override DbCommand Command => throw new NotSupportedException("The fake call has no command; the guard must not need it.");

    public override string CommandText { get; }

    public override string Provider { get; }

    public override string? DataSource { get; }

    public override string? Database { get; }

    public override SqlExecuteKind Kind => SqlExecuteKind.Reader;

    public override bool IsAsync => false;
}
