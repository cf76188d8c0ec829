using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Governor.Injector.Mutation;
using Governor.Injector.Observability;
using Microsoft.AspNetCore.Http.Features;

namespace Governor.Injector.Admission;

/// <summary>
/// <c>POST /mutate</c>: reads an <c>admission.k8s.io/v1</c> AdmissionReview and answers it.
/// Input the API server would never send (malformed JSON, another kind or version, no request
/// or object, too large) gets a 4xx with a Kubernetes <c>Status</c> body naming the problem; the
/// API server treats a 4xx as a failed call and, with failurePolicy Ignore, admits the pod
/// unchanged. A failure of our own answers <c>allowed: true</c> with a warning: the injector
/// must never be the reason a pod cannot be created.
/// </summary>
internal sealed partial class AdmissionHandler(PodInjector injector, InjectorMetrics metrics, InjectorOptions options, ILogger<AdmissionHandler> logger)
{
    private const string ApiVersion = "admission.k8s.io/v1";
    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 128 };

    public async Task HandleAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var (outcome, reason) = ("error", "unhandled");
        try
        {
            (outcome, reason) = await HandleCoreAsync(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            (outcome, reason) = ("aborted", "client-disconnected");
        }
        catch (Exception ex)
        {
            // Only reachable if writing the response itself failed; nothing more can be sent.
            LogUnhandled(logger, ex);
        }
        finally
        {
            metrics.RecordAdmission(outcome, reason, Stopwatch.GetElapsedTime(started));
        }
    }

    private async Task<(string Outcome, string Reason)> HandleCoreAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return await RejectAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", $"content type '{contentType}' is not application/json");

        var body = await ReadBodyAsync(context);
        if (body is null)
            return await RejectAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", $"request body is larger than {options.MaxRequestBodyBytes} bytes");

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(body, documentOptions: ParseOptions);
        }
        catch (JsonException ex)
        {
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "request body is not valid JSON: " + ex.Message);
        }

        if (root is not JsonObject review)
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "not-admission-review", "request body is not a JSON object");
        var apiVersion = PodJson.String(review, "apiVersion");
        var kind = PodJson.String(review, "kind");
        if (kind != "AdmissionReview" || apiVersion != ApiVersion)
        {
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "not-admission-review",
                $"expected kind AdmissionReview and apiVersion {ApiVersion} (set admissionReviewVersions: [v1]), got kind '{kind}' and apiVersion '{apiVersion}'");
        }

        if (review["request"] is not JsonObject admission)
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "missing-request", "AdmissionReview has no request");
        if (PodJson.String(admission, "uid") is not { Length: > 0 } uid)
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "missing-uid", "AdmissionReview request has no uid");

        var requestKind = admission["kind"] as JsonObject;
        var (group, version, resourceKind) = (PodJson.String(requestKind, "group") ?? "", PodJson.String(requestKind, "version"), PodJson.String(requestKind, "kind"));
        if (group != "" || version != "v1" || resourceKind != "Pod" || PodJson.String(admission, "subResource") is { Length: > 0 })
        {
            // A webhook configuration that sends us more than pods: admit it untouched and say so.
            var what = $"{(group == "" ? "" : group + "/")}{version} {resourceKind}";
            LogIgnoredKind(logger, uid, what);
            await RespondAsync(context, uid, [], [$"governor: the injector only mutates v1 Pods; {what} was admitted unchanged"]);
            return ("ignored", "not-a-pod");
        }

        if (PodJson.String(admission, "operation") != "CREATE")
        {
            await RespondAsync(context, uid, [], []);
            return ("ignored", "not-create");
        }

        if (admission["object"] is not JsonObject pod)
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "missing-object", "AdmissionReview request.object is missing or not an object");
        if (PodJson.String(pod, "kind") is { } objectKind && objectKind != "Pod")
            return await RejectAsync(context, StatusCodes.Status400BadRequest, "not-a-pod", $"request.object has kind '{objectKind}', expected Pod");

        var ns = PodJson.String(admission, "namespace");
        var podName = PodJson.String(pod["metadata"] as JsonObject, "name") ?? PodJson.String(pod["metadata"] as JsonObject, "generateName") ?? "";
        InjectionResult result;
        try
        {
            result = injector.Inject(pod, ns);
        }
        catch (Exception ex)
        {
            LogInjectionFailed(logger, ex, uid, ns, podName);
            await RespondAsync(context, uid, [], [$"governor: the agent was not injected because of an internal error (see the injector's log, uid {uid})"]);
            return ("error", "internal-error");
        }

        LogDecision(logger, uid, ns, podName, result.Outcome, result.Reason, string.Join(',', result.Containers), result.Patch.Count, string.Join(" | ", result.Warnings));
        await RespondAsync(context, uid, result.Patch, result.Warnings);
        return (result.Outcome, result.Reason);
    }

    /// <summary>The body, or null when it exceeds the limit (checked while reading, for chunked bodies).</summary>
    private async Task<byte[]?> ReadBodyAsync(HttpContext context)
    {
        var limit = options.MaxRequestBodyBytes;
        if (context.Request.ContentLength > limit)
            return null;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
            sizeFeature.MaxRequestBodySize = limit;

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                if (buffer.Length + read > limit)
                    return null;
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null;
        }

        return buffer.ToArray();
    }

    private async Task<(string, string)> RejectAsync(HttpContext context, int status, string reason, string message)
    {
        LogRejected(logger, status, reason, message);
        // A Kubernetes Status, the error shape kubectl and the API server's log understand.
        var body = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Status",
            ["status"] = "Failure",
            ["message"] = "governor injector: " + message,
            ["reason"] = reason,
            ["code"] = status,
        };
        context.Response.StatusCode = status;
        await WriteJsonAsync(context, body);
        return ("invalid", reason);
    }

    private static Task RespondAsync(HttpContext context, string uid, JsonArray patch, IReadOnlyList<string> warnings)
    {
        var response = new JsonObject { ["uid"] = uid, ["allowed"] = true };
        if (patch.Count > 0)
        {
            response["patchType"] = "JSONPatch";
            response["patch"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(patch.ToJsonString()));
        }

        if (warnings.Count > 0)
            response["warnings"] = new JsonArray([.. warnings.Select(w => (JsonNode?)JsonValue.Create(w))]);
        context.Response.StatusCode = StatusCodes.Status200OK;
        return WriteJsonAsync(context, new JsonObject
        {
            ["apiVersion"] = ApiVersion,
            ["kind"] = "AdmissionReview",
            ["response"] = response,
        });
    }

    private static async Task WriteJsonAsync(HttpContext context, JsonObject body)
    {
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(body), context.RequestAborted);
    }

    // The warnings are logged too: for controller-made pods nobody reads the admission response.
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Admission {Uid} {PodNamespace}/{Pod}: {Outcome} ({Reason}); containers [{Containers}], {Operations} patch operations; warnings: {Warnings}")]
    private static partial void LogDecision(ILogger logger, string uid, string? podNamespace, string pod, string outcome, string reason, string containers, int operations, string warnings);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Rejected admission request with {Status} ({Reason}): {Detail}")]
    private static partial void LogRejected(ILogger logger, int status, string reason, string detail);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Injection failed for admission {Uid} {PodNamespace}/{Pod}; the pod is admitted without the agent")]
    private static partial void LogInjectionFailed(ILogger logger, Exception exception, string uid, string? podNamespace, string pod);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Admission {Uid} is for {Kind}, not a Pod; admitted unchanged (check the webhook's rules)")]
    private static partial void LogIgnoredKind(ILogger logger, string uid, string kind);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Unhandled error while answering an admission request")]
    private static partial void LogUnhandled(ILogger logger, Exception exception);
}
