using Governor.Interception;
using Governor.Rules;

namespace Governor.Plugins.Throttle.Tests.Fakes;

/// <summary>The plugin started on a fake context with manual time, and helpers to send calls through its pipelines.</summary>
internal sealed class ThrottleHost : IDisposable
{
    public ThrottleHost(string yaml, string appName = "shop", Dictionary<string, string>? settings = null)
        : this(TestRules.Parse(yaml), appName, settings)
    {
    }

    public ThrottleHost(RuleSet rules, string appName = "shop", Dictionary<string, string>? settings = null)
    {
        Context = new FakeContext(rules, appName, settings);
        Plugin = new ThrottlePlugin(Time);
        Plugin.Start(Context);
    }

    public ManualTimeProvider Time { get; } = new();

    public FakeContext Context { get; }

    public ThrottlePlugin Plugin { get; }

    public HandlerPipeline<IInboundHandler> Inbound => Context.Interception.Inbound;

    public HandlerPipeline<IOutboundHandler> Outbound => Context.Interception.Outbound;

    /// <summary>Reloads the rules as the rule store would after a file change.</summary>
    public void Reload(string yaml) => Context.RuleSource.Publish(TestRules.Parse(yaml));

    /// <summary>One inbound request through the pipeline, synchronously.</summary>
    public InboundResponse? Request(string method, string path, string? route = null, bool grpc = false) =>
        PipelineDriver.Run(Inbound, new FakeInboundCall(method, path, route, grpc));

    /// <summary>One inbound request whose route template routing matches after the first stage (the usual provider).</summary>
    public InboundResponse? Routed(string method, string path, string template, bool grpc = false) =>
        PipelineDriver.Run(Inbound, new FakeInboundCall(method, path, grpc: grpc, matchedRoute: template));

    /// <summary>Sends <paramref name="count"/> requests and returns how many got through.</summary>
    public int Admitted(int count, string method, string path, string? route = null)
    {
        int admitted = 0;
        for (int i = 0; i < count; i++)
        {
            if (Request(method, path, route) is null)
            {
                admitted++;
            }
        }

        return admitted;
    }

    public Task<HttpResponseMessage> SendAsync(string url, bool grpc = false, Func<Task>? network = null) =>
        PipelineDriver.SendAsync(Outbound, new FakeOutboundCall(url, grpc), network);

    public void Dispose() => Plugin.Stop();
}
