using System.Diagnostics;
using System.Runtime.InteropServices;
using Governor.Demo;
using Governor.Testing;

// The guided tour: one command shows every capability of Governor on the sample shop.
// Exit codes: 0 every available step passed, 1 a step failed, 2 bad arguments, 130 interrupted.
string root;
try
{
    root = RepoPaths.Root;
}
catch (InvalidOperationException ex)
{
    Ui.Error(ex.Message + " (run the tour from the repository: dotnet run --project samples/Governor.Demo -c Release)");
    return 2;
}

var options = Options.Parse(args, root, out string? error);
if (options is null)
{
    if (error is not null)
    {
        Ui.Error(error);
        Console.Error.WriteLine(Options.Usage);
        return 2;
    }

    Console.WriteLine(Options.Usage);
    return 0;
}

// Ctrl+C (and SIGTERM, SIGHUP) stop every service process the tour started, then the tour.
using var stopping = new CancellationTokenSource();
int interrupted = 0;
void Interrupt(PosixSignalContext context)
{
    context.Cancel = true;
    if (Interlocked.Exchange(ref interrupted, 1) == 0)
    {
        int stopped = Shop.StopAll();
        Ui.Error($"interrupted: stopped {stopped} service process(es); no report written.");
        stopping.Cancel();
        Environment.Exit(130);
    }
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Interrupt);

try
{
    return await new Tour(options, root).RunAsync(stopping.Token);
}
catch (DemoException ex)
{
    Ui.Error(ex.Message);
    return 1;
}
catch (OperationCanceledException) when (stopping.IsCancellationRequested)
{
    return 130;
}
finally
{
    Shop.StopAll();
}

namespace Governor.Demo
{
    /// <summary>Why a separate type: the top-level statements only parse arguments and handle signals.</summary>
    internal static class Clock
    {
        public static readonly Stopwatch Tour = Stopwatch.StartNew();
    }
}
