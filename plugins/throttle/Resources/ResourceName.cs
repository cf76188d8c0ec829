using System.Globalization;

namespace Governor.Plugins.Throttle.Resources;

internal enum ResourceForm
{
    /// <summary>An inbound request path or gRPC method: <c>/foo</c>, <c>GET:/foo</c>, <c>/pkg.Service/Method</c>.</summary>
    Path,

    /// <summary>An inbound route template: <c>/orders/{id}</c>, <c>GET:/orders/{id}</c>.</summary>
    Route,

    /// <summary>An outbound destination: <c>api.example.com</c>, <c>api.example.com:8443</c>, <c>api.example.com/v1/orders</c>.</summary>
    Host,
}

/// <summary>
/// A parsed <c>targetResourceName</c>. The forms are told apart by their first characters, so
/// one FaultToleranceRule can name inbound and outbound resources side by side:
/// a leading '/' is inbound (a template when it has '{'), <c>METHOD:/...</c> is inbound
/// qualified by the HTTP method, anything else is an outbound host with an optional port and
/// path (an <c>http://</c> or <c>https://</c> prefix is accepted and ignored).
/// Paths and hosts compare without regard to case, and a trailing '/' is ignored, because
/// ASP.NET Core routing serves <c>/Foo/</c> like <c>/foo</c>: a limit that a different
/// spelling could bypass would be no limit.
/// </summary>
internal sealed class ResourceName
{
    private ResourceName(string text, ResourceForm form, string key, string? method, int port, string? path)
    {
        Text = text;
        Form = form;
        Key = key;
        Method = method;
        Port = port;
        Path = path;
        Identity = string.Create(CultureInfo.InvariantCulture, $"{form}|{method}|{key.ToUpperInvariant()}|{port}|{path?.ToUpperInvariant()}");
    }

    /// <summary>The name as written in the rule.</summary>
    public string Text { get; }

    public ResourceForm Form { get; }

    /// <summary>The lookup key: the normalized path or template, or the host.</summary>
    public string Key { get; }

    /// <summary>The HTTP method of a method-qualified inbound name (upper case), else null.</summary>
    public string? Method { get; }

    /// <summary>The port of an outbound name, 0 for any port.</summary>
    public int Port { get; }

    /// <summary>The normalized path of an outbound name, null for any path.</summary>
    public string? Path { get; }

    /// <summary>Equal for names that match the same requests (e.g. <c>/foo</c> and <c>/FOO/</c>).</summary>
    public string Identity { get; }

    public override string ToString() => Text;

    public static bool TryParse(string text, out ResourceName? name, out string? problem)
    {
        name = null;
        problem = null;
        if (text.Length == 0 || text.AsSpan().IndexOfAny(" \t\r\n") >= 0)
        {
            problem = "is empty or contains white space";
            return false;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && colon + 1 < text.Length && text[colon + 1] == '/' && IsLetters(text.AsSpan(0, colon)))
        {
            string rest = text[(colon + 1)..];
            if (rest.StartsWith("//", StringComparison.Ordinal))
            {
                // http://host/... is an outbound URL, not the method "http".
                return TryParseHost(text, text[(colon + 3)..], out name, out problem);
            }

            name = Inbound(text, rest, text[..colon].ToUpperInvariant());
            return true;
        }

        if (text[0] == '/')
        {
            name = Inbound(text, text, null);
            return true;
        }

        return TryParseHost(text, text, out name, out problem);
    }

    /// <summary>The lookup form of a request path: without one trailing '/' (the root stays "/").</summary>
    public static ReadOnlySpan<char> NormalizePath(ReadOnlySpan<char> path)
    {
        if (path.Length == 0)
        {
            return "/";
        }

        return path.Length > 1 && path[^1] == '/' ? path[..^1] : path;
    }

    /// <summary>
    /// The lookup form of a route template: without leading and trailing '/', because ASP.NET
    /// Core reports controller templates as "api/orders/{id}" and minimal APIs as "/orders/{id}".
    /// </summary>
    public static ReadOnlySpan<char> NormalizeRoute(ReadOnlySpan<char> template) => template.Trim('/');

    private static ResourceName Inbound(string text, string pathOrTemplate, string? method)
    {
        bool isTemplate = pathOrTemplate.Contains('{', StringComparison.Ordinal);
        string key = isTemplate ? NormalizeRoute(pathOrTemplate).ToString() : NormalizePath(pathOrTemplate).ToString();
        return new ResourceName(text, isTemplate ? ResourceForm.Route : ResourceForm.Path, key, method, 0, null);
    }

    private static bool TryParseHost(string text, string hostPart, out ResourceName? name, out string? problem)
    {
        name = null;
        problem = null;
        int slash = hostPart.IndexOf('/', StringComparison.Ordinal);
        string authority = slash < 0 ? hostPart : hostPart[..slash];
        string? path = slash < 0 ? null : NormalizePath(hostPart.AsSpan(slash)).ToString();
        string host;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                problem = "has an IPv6 address without its closing ']'";
                return false;
            }

            host = authority[..(close + 1)];
            if (close + 1 < authority.Length)
            {
                if (authority[close + 1] != ':')
                {
                    problem = "has text after the IPv6 address that is not ':port'";
                    return false;
                }

                portText = authority[(close + 2)..];
            }
        }
        else
        {
            int colon = authority.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? authority : authority[..colon];
            portText = colon < 0 ? null : authority[(colon + 1)..];
            foreach (char c in host)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
                {
                    problem = "is neither an inbound path (starting with '/'), METHOD:/path, nor an outbound host[:port][/path]";
                    return false;
                }
            }
        }

        if (host.Length == 0)
        {
            problem = "has no host";
            return false;
        }

        int port = 0;
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            problem = $"has port '{portText}'; use a number from 1 to 65535";
            return false;
        }

        name = new ResourceName(text, ResourceForm.Host, host.ToLowerInvariant(), null, port, path);
        return true;
    }

    private static bool IsLetters(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiLetter(c))
            {
                return false;
            }
        }

        return true;
    }
}
