using Governor.Interception;
using Xunit;

namespace Governor.Core.Tests.Interception;

public sealed class HandlerPipelineTests
{
    private sealed class Handler
    {
        public Handler(string name) => Name = name;

        public string Name { get; }
    }

    [Fact]
    public void SubscribeFactory_PipelineDeferred_HandlerCreatedOnlyWhenMaterialized()
    {
        var pipeline = new HandlerPipeline<Handler>("outbound");
        pipeline.Defer();
        int created = 0;

        using var subscription = pipeline.Subscribe(() => { created++; return new Handler("gray"); }, 0, "gray");

        Assert.Equal(0, created);
        Assert.Empty(pipeline.Handlers);
        Assert.Equal(new[] { "gray" }, pipeline.Owners);

        Assert.Empty(pipeline.Materialize());
        Assert.Equal(1, created);
        Assert.Equal("gray", Assert.Single(pipeline.Handlers).Name);
    }

    [Fact]
    public void SubscribeFactory_PipelineNotDeferred_HandlerCreatedAtOnce()
    {
        var pipeline = new HandlerPipeline<Handler>("outbound");

        using var subscription = pipeline.Subscribe(() => new Handler("throttle"), 100, "throttle");

        Assert.Equal("throttle", Assert.Single(pipeline.Handlers).Name);
    }

    [Fact]
    public void SubscribeFactory_DisposedBeforeMaterialize_NeverCreated()
    {
        var pipeline = new HandlerPipeline<Handler>("outbound");
        pipeline.Defer();
        bool created = false;
        var subscription = pipeline.Subscribe(() => { created = true; return new Handler("lossless"); }, -100, "lossless");

        subscription.Dispose();
        pipeline.Materialize();

        Assert.False(created);
        Assert.Empty(pipeline.Handlers);
        Assert.Empty(pipeline.Owners);
    }

    [Fact]
    public void Materialize_OneFactoryThrows_OthersSubscribedInOrderAndFailureNamed()
    {
        var pipeline = new HandlerPipeline<Handler>("outbound");
        pipeline.Defer();
        using var a = pipeline.Subscribe(() => new Handler("b"), 100, "throttle");
        using var b = pipeline.Subscribe(() => throw new InvalidOperationException("no network stack"), 0, "broken");
        using var c = pipeline.Subscribe(() => new Handler("a"), 0, "gray");

        var failures = pipeline.Materialize();

        Assert.Equal("broken: InvalidOperationException: no network stack", Assert.Single(failures));
        Assert.Equal(new[] { "a", "b" }, pipeline.Handlers.Select(h => h.Name));

        // Created handlers unsubscribe like any other.
        c.Dispose();
        Assert.Equal("b", Assert.Single(pipeline.Handlers).Name);
    }
}
