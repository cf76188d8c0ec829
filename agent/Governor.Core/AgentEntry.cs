namespace Governor.Core;

/// <summary>Called by the startup hook (through reflection, across AssemblyLoadContexts).</summary>
internal static class AgentEntry
{
    public static void Start(string home) => Agent.Start(home);
}
