using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Governor.Injector.Tests.Support;

namespace Governor.Injector.Tests;

/// <summary>Input the API server would never send gets a clear 4xx, and the webhook keeps serving.</summary>
public sealed class InputValidationTests(InputValidationTests.Server server) : IClassFixture<InputValidationTests.Server>
{
    public sealed class Server : IAsyncLifetime
    {
        internal WebhookServer Webhook { get; private set; } = null!;

        public async Task InitializeAsync() => Webhook = await WebhookServer.StartAsync("MaxRequestBodyBytes=65536");

        public async Task DisposeAsync() => await Webhook.DisposeAsync();
    }

    private async Task AssertRejectedAsync((HttpStatusCode Status, JsonNode? Body) answer, HttpStatusCode status, string reason, string messagePart)
    {
        Assert.Equal(status, answer.Status);
        Assert.Equal("Status", (string?)answer.Body!["kind"]);
        Assert.Equal("Failure", (string?)answer.Body["status"]);
        Assert.Equal((int)status, (int)answer.Body["code"]!);
        Assert.Equal(reason, (string?)answer.Body["reason"]);
        Assert.Contains(messagePart, (string?)answer.Body["message"], StringComparison.Ordinal);

        // Never crashes: the next well-formed request is answered normally.
        var next = await server.Webhook.MutateAsync(TestPods.Review(TestPods.BarePod()));
        Assert.NotNull(next.Patch);
    }

    [Theory]
    [InlineData("{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": ")]
    [InlineData("not json at all")]
    [InlineData("")]
    public async Task Mutate_MalformedJson_Returns400(string body) =>
        await AssertRejectedAsync(await server.Webhook.PostAsync(body), HttpStatusCode.BadRequest, "malformed-json", "not valid JSON");

    [Theory]
    [InlineData("admission.k8s.io/v1beta1", "AdmissionReview")]
    [InlineData("admission.k8s.io/v1", "Pod")]
    public async Task Mutate_WrongApiVersionOrKind_Returns400(string apiVersion, string kind)
    {
        var review = TestPods.Review(TestPods.BarePod());
        review["apiVersion"] = apiVersion;
        review["kind"] = kind;

        await AssertRejectedAsync(await server.Webhook.PostAsync(review.ToJsonString()), HttpStatusCode.BadRequest, "not-admission-review", $"got kind '{kind}' and apiVersion '{apiVersion}'");
    }

    [Fact]
    public async Task Mutate_JsonArrayBody_Returns400() =>
        await AssertRejectedAsync(await server.Webhook.PostAsync("[1, 2]"), HttpStatusCode.BadRequest, "not-admission-review", "not a JSON object");

    [Fact]
    public async Task Mutate_MissingRequest_Returns400()
    {
        var review = TestPods.Review(TestPods.BarePod());
        review.Remove("request");

        await AssertRejectedAsync(await server.Webhook.PostAsync(review.ToJsonString()), HttpStatusCode.BadRequest, "missing-request", "no request");
    }

    [Fact]
    public async Task Mutate_MissingObject_Returns400()
    {
        var review = TestPods.Review(TestPods.BarePod());
        review["request"]!.AsObject().Remove("object");

        await AssertRejectedAsync(await server.Webhook.PostAsync(review.ToJsonString()), HttpStatusCode.BadRequest, "missing-object", "request.object");
    }

    [Fact]
    public async Task Mutate_NonPodKind_AllowsUnchangedWithWarning()
    {
        var review = TestPods.Review(TestPods.Parse("""{ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "shop-api" } }"""));
        review["request"]!["kind"] = new JsonObject { ["group"] = "apps", ["version"] = "v1", ["kind"] = "Deployment" };
        review["request"]!["resource"] = new JsonObject { ["group"] = "apps", ["version"] = "v1", ["resource"] = "deployments" };

        var answer = await server.Webhook.MutateAsync(review);

        Assert.Null(answer.Patch);
        Assert.Contains(answer.Warnings, w => w.Contains("apps/v1 Deployment", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mutate_UpdateOperation_AllowsWithoutPatch()
    {
        var answer = await server.Webhook.MutateAsync(TestPods.Review(TestPods.DeploymentPod(), operation: "UPDATE"));

        Assert.Null(answer.Patch);
        Assert.Empty(answer.Warnings);
    }

    [Fact]
    public async Task Mutate_OversizedBody_Returns413()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["filler"] = new string('x', 70_000);

        // With Expect: 100-continue the client waits for the verdict before sending the body;
        // without it the server still answers 413 but closes the connection mid-upload.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mutate")
        {
            Content = new StringContent(TestPods.Review(pod).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = true;
        using var response = await server.Webhook.Client.SendAsync(request);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync());

        await AssertRejectedAsync((response.StatusCode, body), HttpStatusCode.RequestEntityTooLarge, "body-too-large", "larger than 65536 bytes");
    }

    [Fact]
    public async Task Mutate_OversizedChunkedBody_Returns413()
    {
        // No Content-Length: the limit is enforced while reading.
        var body = Encoding.UTF8.GetBytes(new string(' ', 70_000) + TestPods.Review(TestPods.BarePod()).ToJsonString());
        using var content = new StreamContent(new NonSeekableStream(body));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        await AssertRejectedAsync(await server.Webhook.PostAsync("/mutate", content), HttpStatusCode.RequestEntityTooLarge, "body-too-large", "larger than");
    }

    [Fact]
    public async Task Mutate_NonJsonContentType_Returns415() =>
        await AssertRejectedAsync(
            await server.Webhook.PostAsync("/mutate", new StringContent("<review/>", Encoding.UTF8, "application/xml")),
            HttpStatusCode.UnsupportedMediaType, "unsupported-media-type", "application/xml");

    /// <summary>Forces chunked transfer encoding (HttpClient cannot know the length).</summary>
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
