using Governor.Plugins.Outbound.Testing;
using Xunit;

namespace Governor.Plugins.AdoNet.Tests.Process;

/// <summary>Process tests run one at a time (2 cores) and share the apps and the PostgreSQL server of one fixture.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SqlProcessCollection : ICollectionFixture<OutboundAppsFixture>
{
    public const string Name = "sql processes";
}
