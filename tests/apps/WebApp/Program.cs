// A plain minimal-API app. It knows nothing of Governor.
var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();

app.MapGet("/", () => "hello");
app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
app.MapGet("/slow", async (int? ms) =>
{
    await Task.Delay(ms ?? 1000);
    return "slow done";
});
app.MapGet("/env/{name}", (string name) => Environment.GetEnvironmentVariable(name) ?? string.Empty);
app.MapGet("/runtime", () => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
app.MapGet("/assemblies", () => string.Join('\n', AppDomain.CurrentDomain.GetAssemblies().Select(a => $"{a.GetName().Name} {a.GetName().Version} {System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(a)?.Name} {(a.IsDynamic ? string.Empty : a.Location)}")));
app.MapGet("/missing-assembly", () =>
{
    try
    {
        return $"not caught: {MissingAssembly.Use()}";
    }
    catch (FileNotFoundException e)
    {
        return $"caught {e.GetType().Name}";
    }
});

app.Run();

/// <summary>Calls an assembly the app was compiled against but that is not deployed (Dapper, runtime assets excluded).</summary>
internal static class MissingAssembly
{
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static int Use() => Dapper.SqlMapper.GetCachedSQLCount();
}
