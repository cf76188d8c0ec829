// Does a little work, reports what it saw, and exits with a known code.
int sum = 0;
for (int i = 1; i <= 100; i++)
{
    sum += i;
}

// Stays alive a while when asked, so that a test can read the agent's status file meanwhile.
await Task.Delay(args.Length > 0 && int.TryParse(args[0], out int ms) ? ms : 100);
bool aspnet = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) == true);
Console.WriteLine($"console sum={sum} aspnetcore-loaded={aspnet} args={string.Join(' ', args)}");
return 3;
