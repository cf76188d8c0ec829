using System.Net;
using System.Net.Sockets;
using Governor.Interception;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class CallerRetryHandlerTests
{
    public static TheoryData<string> IdempotentMethods => new() { "GET", "HEAD", "PUT", "DELETE", "OPTIONS" };

    [Theory]
    [MemberData(nameof(IdempotentMethods))]
    public void OnCompleted_IdempotentRequestConnectionRefused_RetriedOnce(string method)
    {
        var (state, handler) = Create();
        var outcome = Failed(new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException((int)SocketError.ConnectionRefused)));

        Assert.Equal(OutboundDecision.Retry, handler.OnCompleted(new FakeOutboundCall(new HttpMethod(method)), outcome));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(new FakeOutboundCall(new HttpMethod(method), attempt: 1), outcome));
        Assert.Equal(1, Interlocked.Read(ref state.CallerRetries));
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("PATCH")]
    public void OnCompleted_NonIdempotentRequestConnectionRefused_NeverRetried(string method)
    {
        var (state, handler) = Create();
        var outcome = Failed(new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException((int)SocketError.ConnectionRefused)));

        Assert.Equal(OutboundDecision.None, handler.OnCompleted(new FakeOutboundCall(new HttpMethod(method)), outcome));
        Assert.Equal(0, Interlocked.Read(ref state.CallerRetries));
        Assert.Equal(1, Interlocked.Read(ref state.CallerNotRetried));
    }

    [Fact]
    public void OnCompleted_ConnectionResetBeforeTheResponse_IdempotentRetriedPostNot()
    {
        var (state, handler) = Create();
        var outcome = Failed(new HttpRequestException("An error occurred while sending the request.", new IOException("Unable to write data to the transport connection", new SocketException((int)SocketError.ConnectionReset))));

        // Seen through a proxy that resets a connection it cannot forward: sometimes a bare
        // SocketException (ENOTCONN) from the connection setup, not wrapped by HttpClient.
        var notConnected = Failed(new SocketException((int)SocketError.NotConnected));

        Assert.Equal(OutboundDecision.Retry, handler.OnCompleted(new FakeOutboundCall(HttpMethod.Put), outcome));
        Assert.Equal(OutboundDecision.Retry, handler.OnCompleted(new FakeOutboundCall(HttpMethod.Get), notConnected));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(new FakeOutboundCall(HttpMethod.Post), outcome));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(new FakeOutboundCall(HttpMethod.Post), notConnected));
        Assert.Equal(2, Interlocked.Read(ref state.CallerNotRetried));
    }

    [Fact]
    public void OnCompleted_GrpcCallMarkedIdempotent_RetriedAndUnmarkedNot()
    {
        var (_, handler) = Create();
        var outcome = Failed(new HttpRequestException(HttpRequestError.ResponseEnded, "ended"));
        var marked = new FakeOutboundCall(HttpMethod.Post, grpc: true);
        marked.MarkIdempotent();

        Assert.Equal(OutboundDecision.Retry, handler.OnCompleted(marked, outcome));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(new FakeOutboundCall(HttpMethod.Post, grpc: true), outcome));
    }

    [Fact]
    public void OnCompleted_503WithTheNotice_RetriedAnd200WithTheNoticeOnlyCounted()
    {
        var (state, handler) = Create();
        var call = new FakeOutboundCall(HttpMethod.Get);

        Assert.Equal(OutboundDecision.Retry, handler.OnCompleted(call, Answered(call, HttpStatusCode.ServiceUnavailable, notice: true)));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(call, Answered(call, HttpStatusCode.OK, notice: true)));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(call, Answered(call, HttpStatusCode.ServiceUnavailable, notice: false)));
        Assert.Equal(2, Interlocked.Read(ref state.CallerNotices));
        Assert.Equal(1, Interlocked.Read(ref state.CallerRetries));
    }

    [Fact]
    public void OnCompleted_OtherFailures_NotRetried()
    {
        var (_, handler) = Create();
        var call = new FakeOutboundCall(HttpMethod.Get);

        Assert.Equal(OutboundDecision.None, handler.OnCompleted(call, Failed(new TaskCanceledException("timeout"))));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(call, Failed(new HttpRequestException(HttpRequestError.NameResolutionError, "dns"))));
        Assert.Equal(OutboundDecision.None, handler.OnCompleted(call, new OutboundOutcome(null, new HttpRequestException(HttpRequestError.ConnectionError, "x"), 0, answeredByHandler: true)));
    }

    private static (LosslessState, CallerRetryHandler) Create()
    {
        var state = new LosslessState();
        return (state, new CallerRetryHandler(state, new NullLogger()));
    }

    private static OutboundOutcome Failed(Exception exception) => new(null, exception, 0, answeredByHandler: false);

    private static OutboundOutcome Answered(FakeOutboundCall call, HttpStatusCode status, bool notice)
    {
        var response = new HttpResponseMessage(status) { RequestMessage = call.Request };
        if (notice)
        {
            response.Headers.TryAddWithoutValidation("x-governor-lossless", "shutting-down");
        }

        return new OutboundOutcome(response, null, 0, answeredByHandler: false);
    }

    private sealed class NullLogger : IGovernorLogger
    {
        public bool IsEnabled(GovernorLogLevel level) => false;

        public void Write(GovernorLogLevel level, Exception? exception, string messageTemplate, params object?[] args)
        {
        }
    }
}
