/// <summary>
/// A startup hook that does nothing, so tests can have a foreign (non-Governor) hook already in
/// DOTNET_STARTUP_HOOKS and check that the agent's hook is appended to it, not put in its place.
/// The runtime looks for a type named StartupHook in no namespace.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
    }
}
