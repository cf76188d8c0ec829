using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Governor.Injector.Tests.Support;

/// <summary>
/// The webhook as the API server sees it: the real host (Kestrel, HTTPS only) on 127.0.0.1 with
/// a certificate from a secret-like directory; the client trusts exactly that certificate.
/// </summary>
internal sealed class WebhookServer : IAsyncDisposable
{
    public const string OwnNamespace = "governor-system";

    private readonly WebApplication _app;
    private readonly HashSet<string> _trusted = new(StringComparer.OrdinalIgnoreCase);

    private WebhookServer(WebApplication app, SecretVolume secret, TestCertificate certificate)
    {
        _app = app;
        Secret = secret;
        _trusted.Add(certificate.Thumbprint);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        BaseAddress = new Uri(address);
        Client = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && _trusted.Contains(cert.GetCertHashString()) },
        })
        { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    public SecretVolume Secret { get; }

    public static Task<WebhookServer> StartAsync(params string[] settings) => StartAsync(withCertificate: true, settings);

    /// <summary>As when the secret is not mounted yet: the certificate comes later.</summary>
    public static Task<WebhookServer> StartWithoutCertificateAsync() => StartAsync(withCertificate: false, []);

    private static async Task<WebhookServer> StartAsync(bool withCertificate, string[] settings)
    {
        var secret = new SecretVolume();
        var certificate = TestCertificate.Create();
        if (withCertificate)
            secret.Write(certificate);
        string[] args =
        [
            "--Injector:ListenAddress=127.0.0.1",
            "--Injector:Port=0",
            $"--Injector:TlsDirectory={secret.Path}",
            "--Injector:TlsReloadIntervalMs=100",
            $"--Injector:Namespace={OwnNamespace}",
            "--Logging:LogLevel:Default=Warning",
            .. settings.Select(s => "--Injector:" + s),
        ];
        var app = InjectorApp.Build(args);
        await app.StartAsync();
        return new WebhookServer(app, secret, certificate);
    }

    public void Trust(TestCertificate certificate) => _trusted.Add(certificate.Thumbprint);

    public async Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(string path, HttpContent content)
    {
        using var response = await Client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(string body) =>
        PostAsync("/mutate", new StringContent(body, Encoding.UTF8, "application/json"));

    /// <summary>Sends a review that must be answered with 200 and returns its response.</summary>
    public async Task<AdmissionAnswer> MutateAsync(JsonObject review)
    {
        var (status, body) = await PostAsync(review.ToJsonString());
        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        return AdmissionAnswer.From(review, body!);
    }

    /// <summary>The certificate a fresh TLS handshake gets (connections are not pooled here).</summary>
    public async Task<string> HandshakeThumbprintAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, BaseAddress.Port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        return tls.RemoteCertificate!.GetCertHashString();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Secret.Dispose();
    }
}

/// <summary>An AdmissionReview response, decoded.</summary>
internal sealed record AdmissionAnswer(JsonObject Response, string? Patch, IReadOnlyList<string> Warnings)
{
    public static AdmissionAnswer From(JsonObject review, JsonNode body)
    {
        Assert.Equal("admission.k8s.io/v1", (string?)body["apiVersion"]);
        Assert.Equal("AdmissionReview", (string?)body["kind"]);
        var response = body["response"]!.AsObject();
        Assert.Equal((string?)review["request"]!["uid"], (string?)response["uid"]);
        Assert.True((bool)response["allowed"]!, "the injector must always allow");
        string? patch = null;
        if (response["patch"] is { } encoded)
        {
            Assert.Equal("JSONPatch", (string?)response["patchType"]);
            patch = Encoding.UTF8.GetString(Convert.FromBase64String((string)encoded!));
        }

        var warnings = response["warnings"]?.AsArray().Select(w => (string)w!).ToList() ?? [];
        return new AdmissionAnswer(response, patch, warnings);
    }
}
