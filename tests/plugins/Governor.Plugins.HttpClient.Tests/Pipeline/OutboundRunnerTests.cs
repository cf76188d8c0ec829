using System.Net;
using System.Net.Http.Headers;
using Governor.Interception;
using Governor.Plugins.Outbound.Testing;
using Xunit;

namespace Governor.Plugins.HttpClient.Tests.Pipeline;

/// <summary>The outbound pipeline's semantics, driven directly with a fake network (no patching).</summary>
public sealed class OutboundRunnerTests
{
    private readonly List<string> _journal = new();
    private readonly Network _network = new();
    private readonly ListLogger _log = new();
    private readonly HandlerPipeline<IOutboundHandler> _pipeline = new("outbound");
    private readonly OutboundRuntime _runtime;

    public OutboundRunnerTests() => _runtime = new OutboundRuntime(_pipeline, _log);

    [Fact]
    public async Task SendAsync_HandlersLetItThrough_RequestsInOrderCompletionsInReverseAppGetsTheNetworksTask()
    {
        var (a, b) = (Handler("a"), Handler("b"));
        var response = new HttpResponseMessage(HttpStatusCode.Accepted);
        var sent = Task.FromResult(response);
        _network.Script = (_, _) => sent;

        var task = Send(Get(), a, b);

        Assert.Same(sent, task);
        Assert.Equal(new[] { "a.request#0", "b.request#0", "b.completed#0:b", "a.completed#0:a" }, _journal);
        Assert.Same(response, a.Outcomes.Single().Response);
        Assert.False(a.Outcomes.Single().AnsweredByHandler);
        Assert.True(a.Outcomes.Single().ElapsedTicks >= 0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SendAsync_DurationIsMeasuredOnlyWhenASubscriberWantsIt(bool measures)
    {
        var a = Handler("a");
        using var subscription = _pipeline.Subscribe(a, 0, "test", measuresDuration: measures);
        _network.Script = async (request, _) =>
        {
            await Task.Delay(20);
            return new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request };
        };

        await Send(Get(), a);

        var elapsed = a.Outcomes.Single().Elapsed;
        Assert.True(measures ? elapsed >= TimeSpan.FromMilliseconds(15) : elapsed == TimeSpan.Zero, $"elapsed {elapsed}");
    }

    [Fact]
    public async Task SendAsync_SecondHandlerAnswers_NetworkAndLaterHandlersSkipped_CompletionForThoseThatRan()
    {
        var (a, b, c) = (Handler("a"), Handler("b"), Handler("c"));
        var answer = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        b.Answer = _ => answer;
        var request = Get();

        var response = await Send(request, a, b, c);

        Assert.Same(answer, response);
        Assert.Same(request, response.RequestMessage);
        Assert.Equal(0, _network.Sends);
        Assert.Equal(new[] { "a.request#0", "b.request#0", "b.completed#0:b", "a.completed#0:a" }, _journal);
        Assert.True(a.Outcomes.Single().AnsweredByHandler);
    }

    [Fact]
    public async Task SendAsync_GrpcTrailersOnlyAnswer_CarriesTheStatusInTheHeaders()
    {
        var a = Handler("a");
        a.Answer = call => SyntheticResponses.GrpcTrailersOnly(call.Request, 8, "slow down");
        var request = Grpc();

        var response = await Send(request, a);

        Assert.Equal("8", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal(8, a.Outcomes.Single().GrpcStatusFromHeaders);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType!.MediaType);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("HEAD")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("OPTIONS")]
    public async Task SendAsync_RetryOnIdempotentMethod_ResendsOnceAndRerunsRequestHandlers(string method)
    {
        var a = Handler("a");
        a.Decide = (call, _) => call.Attempt == 0 ? OutboundDecision.Retry : OutboundDecision.None;
        _network.Script = (request, n) => Task.FromResult(new HttpResponseMessage(n == 0 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK) { RequestMessage = request });

        var response = await Send(new HttpRequestMessage(new HttpMethod(method), "http://svc/x"), a);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _network.Sends);
        Assert.Equal(new[] { "a.request#0", "a.completed#0:a", "a.request#1", "a.completed#1:a" }, _journal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Outcomes[0].Response!.StatusCode);
    }

    [Fact]
    public async Task SendAsync_RetryOnPost_IsRefusedAndSentOnce()
    {
        var a = Handler("a");
        a.Decide = (_, _) => OutboundDecision.Retry;
        var request = new HttpRequestMessage(HttpMethod.Post, "http://svc/x") { Content = new StringContent("body") };

        await Send(request, a);

        Assert.Equal(1, _network.Sends);
        Assert.Equal(new[] { "a.request#0", "a.completed#0:a" }, _journal);
    }

    [Fact]
    public async Task SendAsync_RetryOnGrpcMarkedIdempotentByHeader_Resends()
    {
        var a = Handler("a");
        a.Decide = (call, _) => call.Attempt == 0 ? OutboundDecision.Retry : OutboundDecision.None;
        var request = Grpc();
        request.Headers.TryAddWithoutValidation("grpc-idempotent", "true");

        await Send(request, a);

        Assert.Equal(2, _network.Sends);
    }

    [Fact]
    public async Task SendAsync_RetryOnGrpcMarkedIdempotentByHandler_Resends_UnmarkedIsRefused()
    {
        var marking = Handler("m");
        var plain = new OutboundRunnerTests();
        marking.Answer = call =>
        {
            call.MarkIdempotent();
            return null;
        };
        marking.Decide = (call, _) => call.Attempt == 0 ? OutboundDecision.Retry : OutboundDecision.None;
        var refusing = plain.Handler("r");
        refusing.Decide = (_, _) => OutboundDecision.Retry;

        await Send(Grpc(), marking);
        await plain.Send(Grpc(), refusing);

        Assert.Equal(2, _network.Sends);
        Assert.Equal(1, plain._network.Sends);
    }

    [Fact]
    public async Task SendAsync_RetryWithStreamBody_IsRefused()
    {
        var a = Handler("a");
        a.Decide = (_, _) => OutboundDecision.Retry;
        var request = new HttpRequestMessage(HttpMethod.Put, "http://svc/x") { Content = new StreamContent(new MemoryStream(new byte[] { 1 })) };

        await Send(request, a);

        Assert.Equal(1, _network.Sends);
    }

    [Fact]
    public async Task SendAsync_RetryAskedEveryTime_StopsAtMaxAttempts()
    {
        var a = Handler("a");
        a.Decide = (_, _) => OutboundDecision.Retry;

        await Send(Get(), a);

        Assert.Equal(OutboundCall.MaxAttempts, _network.Sends);
    }

    [Fact]
    public async Task SendAsync_HandlersThrow_TheCallGoesOnAndFailuresAreLogged()
    {
        var (a, b) = (Handler("a"), Handler("b"));
        a.ThrowOnRequest = true;
        b.ThrowOnCompleted = true;

        var response = await Send(Get(), a, b);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, _network.Sends);
        // Both ran their request callback (a threw in it), so both see the outcome.
        Assert.Equal(new[] { "a.request#0", "b.request#0", "b.completed#0:b", "a.completed#0:a" }, _journal);
        Assert.Equal(2, _runtime.HandlerFailures);
        Assert.Contains(_log.Lines, l => l.Contains("fail-open", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SendAsync_HandlerRejectsOnPurpose_NotSentAppGetsTheRejectionHandlersThatRanSeeIt(bool afterWaiting)
    {
        var (a, b, c) = (Handler("a"), Handler("b"), Handler("c"));
        var rejection = new RejectedException();
        b.Reject = rejection;
        b.Delay = afterWaiting ? TimeSpan.FromMilliseconds(10) : null;

        var thrown = await Assert.ThrowsAsync<RejectedException>(() => Send(Get(), a, b, c));

        Assert.Same(rejection, thrown);
        Assert.Equal(0, _network.Sends);
        Assert.Equal(new[] { "a.request#0", "b.request#0", "b.completed#0:b", "a.completed#0:a" }, _journal);
        Assert.Same(rejection, a.Outcomes.Single().Exception);
        Assert.True(a.Outcomes.Single().AnsweredByHandler);
        Assert.Equal(0, _runtime.HandlerFailures);
    }

    [Fact]
    public async Task SendAsync_HandlerThrowsRejectionSynchronously_AppGetsAFaultedTaskWithIt()
    {
        var a = Handler("a");
        var rejecting = new ThrowingHandler(new RejectedException());

        var task = Send(Get(), a, rejecting);

        Assert.True(task.IsFaulted);
        Assert.Same(rejecting.Rejection, await Assert.ThrowsAsync<RejectedException>(() => task));
        Assert.Equal(0, _network.Sends);
        Assert.Same(rejecting.Rejection, a.Outcomes.Single().Exception);
    }

    [Fact]
    public void Send_SynchronousHandlerRejectsOnPurpose_TheRejectionIsThrown()
    {
        var a = Handler("a");
        var rejection = new RejectedException();
        a.Reject = rejection;

        var thrown = Assert.Throws<RejectedException>(() => OutboundRunner.Send(_runtime, new FakeSender(_network), Get(), CancellationToken.None, new IOutboundHandler[] { a }));

        Assert.Same(rejection, thrown);
        Assert.Equal(0, _network.Sends);
        Assert.Equal(new[] { "a.request#0", "a.completed#0:a" }, _journal);
    }

    [Fact]
    public async Task SendAsync_NetworkFails_HandlersSeeTheExceptionAndTheAppGetsTheSameOne()
    {
        var a = Handler("a");
        var failure = new HttpRequestException("connection refused");
        _network.Script = (_, _) => Task.FromException<HttpResponseMessage>(failure);

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => Send(Get(), a));

        Assert.Same(failure, thrown);
        Assert.Same(failure, a.Outcomes.Single().Exception);
        Assert.Null(a.Outcomes.Single().Response);
    }

    [Fact]
    public async Task SendAsync_AsyncHandlerAndPendingNetwork_CompletesAfterBothWithTheNetworksResponse()
    {
        var a = Handler("a");
        a.Delay = TimeSpan.FromMilliseconds(20);
        var pending = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _network.Script = (_, _) => pending.Task;

        var task = Send(Get(), a);
        await Task.Delay(60);
        Assert.False(task.IsCompleted);
        var response = new HttpResponseMessage(HttpStatusCode.Created);
        pending.SetResult(response);

        Assert.Same(response, await task);
        Assert.Equal(new[] { "a.request#0", "a.completed#0:a" }, _journal);
    }

    [Fact]
    public void Send_Synchronous_AnswersAndRetriesLikeTheAsyncPath()
    {
        var (a, b) = (Handler("a"), Handler("b"));
        a.Decide = (call, _) => call.Attempt == 0 ? OutboundDecision.Retry : OutboundDecision.None;
        b.Answer = call => call.Attempt == 1 ? new HttpResponseMessage(HttpStatusCode.Gone) : null;

        var response = OutboundRunner.Send(_runtime, new FakeSender(_network), Get(), CancellationToken.None, new IOutboundHandler[] { a, b });

        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
        Assert.Equal(1, _network.Sends);
        Assert.Equal(new[] { "a.request#0", "b.request#0", "b.completed#0:b", "a.completed#0:a", "a.request#1", "b.request#1", "b.completed#1:b", "a.completed#1:a" }, _journal);
    }

    [Fact]
    public async Task SendAsync_Context_IsTheRequestContextCurrentAtSendTime_NullOutside()
    {
        var a = Handler("a");
        var context = new RequestContext { TrafficLabel = "gray" };

        await Task.Run(async () =>
        {
            RequestContext.SetCurrent(context);
            await Send(Get(), a);
        });
        await Send(Get(), a);

        Assert.Same(context, a.Contexts[0]);
        Assert.Null(a.Contexts[1]);
    }

    [Fact]
    public void SendAsync_NoOpHandlerAndCompletedSend_AllocatesNothing()
    {
        var handlers = new IOutboundHandler[] { new NoOpHandler() };
        var request = Get();
        var sent = Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        _network.Script = (_, _) => sent;
        var sender = new FakeSender(_network);
        for (int i = 0; i < 100; i++)
        {
            _ = OutboundRunner.SendAsync(_runtime, sender, request, CancellationToken.None, handlers);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            _ = OutboundRunner.SendAsync(_runtime, sender, request, CancellationToken.None, handlers);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task Dispatch_AgentStillStartingItsPlugins_CallWaitsAndMeetsTheHandlerSubscribedMeanwhile()
    {
        var gate = new StartupGate();
        gate.Close();
        _runtime.Startup = gate;
        _network.Script = (request, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request });
        OutboundRuntime.Activate(_runtime);
        try
        {
            var pending = OutboundDispatch.SendAsync(new FakeSender(_network), Get(), CancellationToken.None);
            await Task.Delay(100);
            Assert.False(pending.IsCompleted);
            Assert.Empty(_journal);

            // A governance plugin starts and subscribes; then the agent's start is over.
            var a = Handler("a");
            using var subscription = _pipeline.Subscribe(a, 0, "test");
            gate.Open();
            using var response = await pending.WaitAsync(TimeSpan.FromSeconds(5));

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("a.request#0", _journal);
        }
        finally
        {
            OutboundRuntime.Activate(null);
        }
    }

    private static HttpRequestMessage Get() => new(HttpMethod.Get, "http://svc/x");

    private static HttpRequestMessage Grpc()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "http://svc/greet.Greeter/SayHello")
        {
            Version = HttpVersion.Version20,
            Content = new ByteArrayContent(new byte[] { 0, 0, 0, 0, 0 }),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        return request;
    }

    private ScriptedHandler Handler(string name) => new(name, _journal);

    private Task<HttpResponseMessage> Send(HttpRequestMessage request, params IOutboundHandler[] handlers) =>
        OutboundRunner.SendAsync(_runtime, new FakeSender(_network), request, CancellationToken.None, handlers);

    /// <summary>Throws from the request callback itself, not from an async method's task.</summary>
    private sealed class ThrowingHandler : IOutboundHandler
    {
        public ThrowingHandler(Exception rejection) => Rejection = rejection;

        public Exception Rejection { get; }

        public ValueTask<HttpResponseMessage?> OnRequestAsync(OutboundCall call, CancellationToken cancellationToken) => throw Rejection;

        public OutboundDecision OnCompleted(OutboundCall call, in OutboundOutcome outcome) => OutboundDecision.None;
    }
}
