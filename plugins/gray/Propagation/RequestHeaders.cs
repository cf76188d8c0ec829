using System.Runtime.CompilerServices;

namespace Governor.Plugins.Gray.Propagation;

/// <summary>
/// Whether a request has any header, without creating the header collection:
/// <see cref="HttpRequestMessage.Headers"/> allocates an empty collection on first use, which
/// the framework itself avoids (it checks an internal HasHeaders). Reads the private field behind
/// it through an <see cref="UnsafeAccessorAttribute"/> (no reflection at call time); if a runtime
/// ever renames the field, the probe at startup notices and every request counts as having
/// headers (correct, one small allocation more).
/// </summary>
internal static class RequestHeaders
{
    private static readonly bool s_canPeek = Probe();

    public static bool Exist(HttpRequestMessage request) => !s_canPeek || HeadersField(request) is not null;

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_headers")]
    private static extern ref System.Net.Http.Headers.HttpRequestHeaders? HeadersField(HttpRequestMessage request);

    private static bool Probe()
    {
        try
        {
            using var empty = new HttpRequestMessage();
            using var with = new HttpRequestMessage();
            with.Headers.TryAddWithoutValidation("x-probe", "1");
            return HeadersField(empty) is null && HeadersField(with) is not null;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
