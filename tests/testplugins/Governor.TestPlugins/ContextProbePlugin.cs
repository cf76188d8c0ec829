using Governor.Interception;

namespace Governor.TestPlugins;

/// <summary>
/// Lets a test app run code inside a <see cref="RequestContext"/> without an inbound request:
/// publishes <c>AppContext.GetData("Governor.Test.RunInContext")</c>, a
/// <c>Func&lt;string, Func&lt;Task&gt;, Task&gt;</c> (BCL types only, so the app references nothing
/// of Governor) that makes a context with the given traffic label and a baggage entry
/// <c>probe=&lt;label&gt;</c> current while the callback runs. Used to prove the context reaches
/// outbound calls and SQL commands in every flow the app's code starts.
/// </summary>
public sealed class ContextProbePlugin : IGovernorPlugin
{
    public const string DataName = "Governor.Test.RunInContext";

    public void Start(IPluginContext context)
    {
        AppContext.SetData(DataName, (Func<string, Func<Task>, Task>)RunInContext);
        context.SetDetail($"AppContext data {DataName} published");
    }

    public void Stop() => AppContext.SetData(DataName, null);

    private static async Task RunInContext(string label, Func<Task> body)
    {
        var request = new RequestContext { TrafficLabel = label };
        request.AddBaggage("probe", label);
        // Set inside this async method: the change is confined to this flow and what it starts.
        RequestContext.SetCurrent(request);
        await body().ConfigureAwait(false);
    }
}
