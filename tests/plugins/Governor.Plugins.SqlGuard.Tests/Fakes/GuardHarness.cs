using System.Diagnostics;
using Governor.Interception;

namespace Governor.Plugins.SqlGuard.Tests.Fakes;

/// <summary>A guard on a manual clock, driven call by call with hand-made outcomes.</summary>
internal sealed class GuardHarness
{
    public GuardHarness(string rulesYaml, SqlGuardOptions? options = null)
    {
        options ??= new SqlGuardOptions();
        Guard = new SqlGuard(options, Log, Clock);
        Guard.SetRules(TestRules.Compile(rulesYaml, observe: options.Observe));
    }

    public ManualClock Clock { get; } = new();

    public RecordingLogger Log { get; } = new();

    public SqlGuard Guard { get; }

    public static long Ticks(double milliseconds) => (long)(milliseconds * Stopwatch.Frequency / 1000);

    /// <summary>One whole command: returns the guard's rejection, or null when it ran (taking <paramref name="milliseconds"/>).</summary>
    public Exception? Run(SqlCall call, double milliseconds, Exception? error = null)
    {
        var rejection = Begin(call);
        if (rejection is not null)
        {
            return rejection;
        }

        End(call, milliseconds, error);
        return null;
    }

    /// <summary>The way in; a rejected command is completed at once, as the interception plugin does.</summary>
    public Exception? Begin(SqlCall call)
    {
        var rejection = Guard.OnExecuting(call);
        if (rejection is not null)
        {
            Guard.OnExecuted(call, new SqlOutcome(rejection, 0, rejectedByHandler: true));
        }

        return rejection;
    }

    public void End(SqlCall call, double milliseconds, Exception? error = null)
        => Guard.OnExecuted(call, new SqlOutcome(error, Ticks(milliseconds), rejectedByHandler: false));

    public RecordingCollector Status() => RecordingCollector.From(Guard);

    public string State(string resource) => Status().States.TryGetValue(resource, out string? s) ? s : "(not reported)";
}
