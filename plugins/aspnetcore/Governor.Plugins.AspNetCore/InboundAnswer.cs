using Governor.Interception;
using Microsoft.AspNetCore.Http;

namespace Governor.Plugins.AspNetCore;

/// <summary>Writes a handler's <see cref="InboundResponse"/> instead of the app's.</summary>
internal static class InboundAnswer
{
    public static Task WriteAsync(HttpResponse response, InboundResponse answer)
    {
        if (response.HasStarted)
        {
            // Nothing can be changed any more (a handler answered after the app wrote): leave it.
            return Task.CompletedTask;
        }

        response.StatusCode = answer.StatusCode;
        var headers = response.Headers;
        var extra = answer.Headers;
        for (int i = 0; i < extra.Count; i++)
        {
            headers.Append(extra[i].Key, extra[i].Value);
        }

        if (answer.GrpcStatus is int grpcStatus)
        {
            // gRPC trailers-only: HTTP 200, content-type application/grpc, grpc-status and
            // grpc-message as headers and no body. Kestrel then ends the HTTP/2 stream on the
            // HEADERS frame, which every gRPC client reads as the call's final status.
            response.ContentType = "application/grpc";
            headers[GrpcText.StatusHeader] = GrpcText.Status(grpcStatus);
            if (!string.IsNullOrEmpty(answer.GrpcMessage))
            {
                headers[GrpcText.MessageHeader] = GrpcText.EncodeMessage(answer.GrpcMessage);
            }

            return Task.CompletedTask;
        }

        if (answer.ContentType is not null)
        {
            response.ContentType = answer.ContentType;
        }

        response.ContentLength = answer.Body.Length;
        return answer.Body.Length == 0 ? Task.CompletedTask : response.Body.WriteAsync(answer.Body).AsTask();
    }
}
