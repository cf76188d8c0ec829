using Governor.Plugins.Outbound.Testing;
using Xunit;

namespace Governor.Plugins.HttpClient.Tests.Process;

/// <summary>Process tests run one at a time (2 cores) and share the apps of one fixture.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OutboundProcessCollection : ICollectionFixture<OutboundAppsFixture>
{
    public const string Name = "outbound processes";
}
