using Governor.Interception;
using Governor.Rules;

namespace Governor.Plugins.Gray.Tests.Fakes;

/// <summary>The gray plugin started against a fake context: its handlers sit in real pipelines.</summary>
internal sealed class GrayHost : IDisposable
{
    public GrayHost(RuleSet rules, string appName = "gateway", string? tag = null, Dictionary<string, string>? settings = null, Func<string, CancellationToken, Task<bool>>? resolve = null)
    {
        Context = new FakeContext(rules, appName, tag, settings);
        Context.Interception.Outbound.SetProvider("fake-outbound");
        Plugin = new GrayPlugin { Resolver = resolve };
        Plugin.Start(Context);
        Outbound = new OutboundDriver(Context.Interception.Outbound);
    }

    public FakeContext Context { get; }

    public GrayPlugin Plugin { get; }

    public OutboundDriver Outbound { get; }

    public GrayRuntime Runtime => Plugin.Runtime!;

    /// <summary>Runs the inbound handlers for a request, as the ASP.NET Core provider would, and returns the label it got.</summary>
    public string? Inbound(Interception.InboundCall call)
    {
        var handlers = Context.Interception.Inbound.Handlers;
        for (int i = 0; i < handlers.Length; i++)
        {
            call.HandlerIndex = i;
            var pending = handlers[i].OnRequestAsync(call);
            if (!pending.IsCompletedSuccessfully || pending.Result is not null)
            {
                throw new InvalidOperationException("the gray plugin never answers or waits");
            }
        }

        return call.ContextIfCreated?.TrafficLabel;
    }

    public void Publish(RuleSet rules) => Context.RuleSource.Publish(rules);

    public void Dispose() => Plugin.Stop();
}
