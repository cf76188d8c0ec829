using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Governor.Plugins.Lossless.Tests.Unit;

public sealed class ProbeServerTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task Readiness_EachPhase_200OnlyWhenReadyAndThePhaseInTheBody()
    {
        var phase = LosslessPhase.Starting;
        long probes = 0;
        using var server = new ProbeServer("/governor/ready", "/governor/live", () => phase, () => Interlocked.Increment(ref probes));
        Assert.Null(server.Start(IPAddress.Loopback, 0));
        Assert.NotEqual(0, server.Port);

        foreach (var p in Enum.GetValues<LosslessPhase>())
        {
            phase = p;
            using var response = await s_http.GetAsync($"http://127.0.0.1:{server.Port}/governor/ready?verbose=1");
            Assert.Equal(p == LosslessPhase.Ready ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(LosslessState.NameOf(p) + "\n", await response.Content.ReadAsStringAsync());
            Assert.True(response.Headers.ConnectionClose);
            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());

            using var live = await s_http.GetAsync($"http://127.0.0.1:{server.Port}/governor/live");
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        Assert.Equal(Enum.GetValues<LosslessPhase>().Length, Interlocked.Read(ref probes));
    }

    [Fact]
    public async Task Probes_HeadUnknownPathOtherMethodGarbage_AnsweredWithoutBodyOr404Or405Or400()
    {
        using var server = new ProbeServer("/ready", "/live", () => LosslessPhase.Ready, () => { });
        Assert.Null(server.Start(IPAddress.Loopback, 0));
        string url = $"http://127.0.0.1:{server.Port}";

        using var head = await s_http.SendAsync(new HttpRequestMessage(HttpMethod.Head, url + "/ready"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(6, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        using var missing = await s_http.GetAsync(url + "/governor/ready");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var post = await s_http.PostAsync(url + "/ready", new StringContent("x"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);

        Assert.StartsWith("HTTP/1.1 400 ", await RawAsync(server.Port, "garbage\r\n\r\n"));
        // The server keeps serving after any of these.
        Assert.StartsWith("HTTP/1.1 200 OK", await RawAsync(server.Port, "GET /live HTTP/1.1\r\nHost: x\r\n\r\n"));
    }

    [Fact]
    public void Start_PortInUse_ReturnsAClearReasonAndNeverThrows()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var server = new ProbeServer("/ready", "/live", () => LosslessPhase.Ready, () => { });

        string? error = server.Start(IPAddress.Loopback, port);

        Assert.Equal($"probe port {port} is already in use (127.0.0.1); set GOVERNOR_PROBE_PORT to a free port", error);
    }

    [Fact]
    public async Task Start_AllInterfaces_ReachableOverIpv4Loopback()
    {
        using var server = new ProbeServer("/ready", "/live", () => LosslessPhase.Ready, () => { });
        Assert.Null(server.Start(null, 0));
        Assert.StartsWith("*:", server.Endpoint);

        using var response = await s_http.GetAsync($"http://127.0.0.1:{server.Port}/ready");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<string> RawAsync(int port, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadToEndAsync();
    }
}
