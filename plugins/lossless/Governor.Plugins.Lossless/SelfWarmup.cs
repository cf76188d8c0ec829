using System.Diagnostics;
using System.Net;

namespace Governor.Plugins.Lossless;

/// <summary>
/// Sends the configured warm-up requests to the app itself, through its own server address, so
/// that everything the first real requests would pay for happens before readiness: JIT of the
/// whole request path (middleware, routing, handlers, serializers, the data access code), the
/// app's connection pools and caches. GET only: a self-request must never change data.
/// Each request carries <c>x-governor-warmup: 1</c> so the app (and its logs) can tell them apart.
/// </summary>
internal static class SelfWarmup
{
    public const string WarmupHeader = "x-governor-warmup";
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The base address to call from the server's listening addresses: http before https, a
    /// wildcard host ("0.0.0.0", "[::]", "+", "*", "localhost") replaced by 127.0.0.1, which every
    /// such binding accepts. Null when there is no TCP address (a Unix socket only).
    /// </summary>
    public static Uri? BaseAddress(IReadOnlyList<string> addresses)
    {
        Uri? https = null;
        foreach (string address in addresses)
        {
            var uri = Normalize(address);
            if (uri is null)
            {
                continue;
            }

            if (uri.Scheme == Uri.UriSchemeHttp)
            {
                return uri;
            }

            https ??= uri;
        }

        return https;
    }

    internal static Uri? Normalize(string address)
    {
        int schemeEnd = address.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            return null;
        }

        string scheme = address[..schemeEnd].ToLowerInvariant();
        if (scheme is not ("http" or "https"))
        {
            return null;
        }

        string rest = address[(schemeEnd + 3)..];
        int slash = rest.IndexOf('/');
        string authority = slash < 0 ? rest : rest[..slash];
        if (authority.StartsWith("unix:", StringComparison.OrdinalIgnoreCase) || authority.Length == 0)
        {
            return null;
        }

        int colon = authority.LastIndexOf(':');
        bool hasPort = colon > 0 && authority.IndexOf(']', colon) < 0;
        string host = hasPort ? authority[..colon] : authority;
        string port = hasPort ? authority[(colon + 1)..] : (scheme == "http" ? "80" : "443");
        if (host is "0.0.0.0" or "[::]" or "+" or "*" || string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            host = "127.0.0.1";
        }

        return Uri.TryCreate($"{scheme}://{host}:{port}/", UriKind.Absolute, out var uri) ? uri : null;
    }

    /// <summary>Sends each path <paramref name="repeat"/> times: one round after the other, the paths of a round in parallel.</summary>
    public static async Task<WarmupRequestResult> SendAsync(Uri baseAddress, IReadOnlyList<string> paths, int repeat, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        using var handler = new SocketsHttpHandler
        {
            // Our own server, possibly with a development certificate.
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
        };
        using var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = s_requestTimeout };
        int sent = 0;
        int failed = 0;
        string? firstFailure = null;
        var round = new Task<string?>[paths.Count];
        for (int r = 0; r < repeat; r++)
        {
            for (int i = 0; i < paths.Count; i++)
            {
                round[i] = SendOneAsync(client, paths[i], token);
            }

            foreach (var task in round)
            {
                string? failure = await task.ConfigureAwait(false);
                sent++;
                if (failure is not null)
                {
                    failed++;
                    firstFailure ??= failure;
                }
            }
        }

        return new WarmupRequestResult(sent, failed, firstFailure, clock.Elapsed);
    }

    private static async Task<string?> SendOneAsync(HttpClient client, string path, CancellationToken token)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path.StartsWith('/') ? path[1..] : path);
            request.Headers.TryAddWithoutValidation(WarmupHeader, "1");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
            return (int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.NotFound
                ? $"GET {path}: {(int)response.StatusCode}"
                : null;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            return $"GET {path}: {ex.GetType().Name}: {ex.Message}";
        }
    }

    /// <summary>
    /// Waits until the JIT has compiled nothing new for 250 ms (at most <paramref name="limit"/>):
    /// methods the warm-up made hot are recompiled at tier 1 in the background after a short
    /// delay, and readiness is better given once that is done than while it competes with traffic
    /// (measured: 0.3 to 5 s and 60 to 2,400 methods after 40 warm-up requests on a busy 2-core machine).
    /// </summary>
    public static async Task<(long Compiled, TimeSpan Waited)> SettleJitAsync(TimeSpan limit, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        long start = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
        long last = start;
        int quiet = 0;
        while (clock.Elapsed < limit && quiet < 5)
        {
            await Task.Delay(50, token).ConfigureAwait(false);
            long now = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }

        return (last - start, clock.Elapsed);
    }
}

internal readonly record struct WarmupRequestResult(int Sent, int Failed, string? FirstFailure, TimeSpan Elapsed);
