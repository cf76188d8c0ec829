using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Governor.Injector.Tests.Support;

namespace Governor.Injector.Tests;

/// <summary>HTTPS only, certificate rotation, health, metrics, and the real entry point.</summary>
public sealed class ServerTests
{
    [Fact]
    public async Task Server_PlainHttpRequest_GetsNoHttpAnswer()
    {
        await using var webhook = await WebhookServer.StartAsync();
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        var uri = new UriBuilder(webhook.BaseAddress) { Scheme = "http", Path = "/healthz" }.Uri;

        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(uri));
        Assert.Equal("ok", await webhook.Client.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task HealthEndpoints_WithCertificate_Return200()
    {
        await using var webhook = await WebhookServer.StartAsync();

        Assert.Equal("ok", await webhook.Client.GetStringAsync("/healthz"));
        Assert.Equal("ok", await webhook.Client.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task Metrics_AfterAdmissions_CountsEachOutcome()
    {
        await using var webhook = await WebhookServer.StartAsync();
        await webhook.MutateAsync(TestPods.Review(TestPods.BarePod()));
        var optedOut = TestPods.BarePod();
        optedOut["metadata"]!["labels"] = new JsonObject { ["governor.io/inject"] = "false" };
        await webhook.MutateAsync(TestPods.Review(optedOut));
        await webhook.PostAsync("{");

        var text = await webhook.Client.GetStringAsync("/metrics");

        Assert.Contains("governor_injector_admissions_total{outcome=\"injected\",reason=\"injected\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("governor_injector_admissions_total{outcome=\"skipped\",reason=\"opted-out\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("governor_injector_admissions_total{outcome=\"invalid\",reason=\"malformed-json\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("governor_injector_admission_duration_seconds_count 3\n", text, StringComparison.Ordinal);
        Assert.Contains("governor_injector_certificate_reloads_total 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CertificateStore_SecretRotated_ServesNewCertificateWithoutRestart()
    {
        await using var webhook = await WebhookServer.StartAsync();
        var first = await webhook.HandshakeThumbprintAsync();
        var rotated = TestCertificate.Create("rotated.governor-injector.test");
        webhook.Trust(rotated);

        webhook.Secret.Write(rotated);

        Assert.Equal(rotated.Thumbprint, await WaitForThumbprintAsync(webhook, rotated.Thumbprint));
        Assert.NotEqual(first, rotated.Thumbprint);
        var answer = await webhook.MutateAsync(TestPods.Review(TestPods.BarePod()));
        Assert.NotNull(answer.Patch);
    }

    [Fact]
    public async Task CertificateStore_MismatchedKeyAndCertificate_KeepsServingPreviousCertificate()
    {
        await using var webhook = await WebhookServer.StartAsync();
        var original = await webhook.HandshakeThumbprintAsync();
        var (a, b) = (TestCertificate.Create("a"), TestCertificate.Create("b"));

        webhook.Secret.Write(a.CertificatePem, b.KeyPem);
        await WaitForMetricAsync(webhook, "governor_injector_certificate_reload_failures_total 1\n");

        Assert.Equal(original, await webhook.HandshakeThumbprintAsync());
        Assert.Equal("ok", await webhook.Client.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task CertificateStore_NoCertificateAtStart_ServesOnceItAppears()
    {
        await using var webhook = await WebhookServer.StartWithoutCertificateAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => webhook.HandshakeThumbprintAsync());

        var certificate = TestCertificate.Create("late.governor-injector.test");
        webhook.Trust(certificate);
        webhook.Secret.Write(certificate);

        Assert.Equal(certificate.Thumbprint, await WaitForThumbprintAsync(webhook, certificate.Thumbprint));
        Assert.Equal("ok", await webhook.Client.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task Program_StartedAsProcess_WritesJsonLogLinesAndServesHealthz()
    {
        using var secret = new SecretVolume();
        var certificate = TestCertificate.Create();
        secret.Write(certificate);
        var port = FreePort();
        using var process = StartInjectorProcess(new()
        {
            ["Injector__ListenAddress"] = "127.0.0.1",
            ["Injector__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Injector__TlsDirectory"] = secret.Path,
            ["POD_NAMESPACE"] = "governor-system",
        });
        var lines = new List<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        process.BeginOutputReadLine();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.Thumbprint },
            });
            var healthz = await RetryAsync(() => client.GetStringAsync($"https://127.0.0.1:{port}/healthz"));
            var review = TestPods.Review(TestPods.BarePod());
            using var response = await client.PostAsync($"https://127.0.0.1:{port}/mutate", new StringContent(review.ToJsonString(), Encoding.UTF8, "application/json"));

            Assert.Equal("ok", healthz);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var decision = await WaitForLineAsync(lines, "\"Outcome\":\"injected\"");
            var log = JsonNode.Parse(decision)!;
            Assert.Equal("Information", (string?)log["LogLevel"]);
            Assert.Equal("Governor.Injector.Admission.AdmissionHandler", (string?)log["Category"]);
            Assert.Equal((string?)review["request"]!["uid"], (string?)log["State"]!["Uid"]);
            lock (lines)
                Assert.All(lines, line => JsonNode.Parse(line));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Program_InvalidSetting_ExitsWithMessageNamingTheKey()
    {
        using var process = StartInjectorProcess(new() { ["Injector__AgentImagePullPolicy"] = "Sometimes" });
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(2, process.ExitCode);
        var log = JsonNode.Parse(output.Trim())!;
        Assert.Equal("Critical", (string?)log["LogLevel"]);
        Assert.Contains("Injector:AgentImagePullPolicy = 'Sometimes'", (string?)log["Message"], StringComparison.Ordinal);
    }

    private static Process StartInjectorProcess(Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "Governor.Injector.dll") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        return Process.Start(start)!;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<T> RetryAsync<T>(Func<Task<T>> action)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return await action();
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task<string> WaitForLineAsync(List<string> lines, string part)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (lines)
            {
                if (lines.FirstOrDefault(l => l.Contains(part, StringComparison.Ordinal)) is { } line)
                    return line;
            }

            await Task.Delay(50);
        }

        lock (lines)
            throw new Xunit.Sdk.XunitException($"no log line with {part}:\n{string.Join('\n', lines)}");
    }

    private static async Task<string> WaitForThumbprintAsync(WebhookServer webhook, string expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var current = "";
        do
        {
            try
            {
                current = await webhook.HandshakeThumbprintAsync();
                if (current == expected)
                    break;
            }
            catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
            {
                // No certificate loaded yet: the server aborts the handshake.
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);
        return current;
    }

    private static async Task WaitForMetricAsync(WebhookServer webhook, string sample)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(await webhook.Client.GetStringAsync("/metrics")).Contains(sample, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"metric '{sample.Trim()}' never appeared");
            await Task.Delay(50);
        }
    }
}
