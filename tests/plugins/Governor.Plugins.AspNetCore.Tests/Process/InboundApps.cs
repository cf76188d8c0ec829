using System.Net;
using System.Text.Json;
using Governor.Testing;
using Xunit;

namespace Governor.Plugins.AspNetCore.Tests.Process;

/// <summary>
/// One agent home (the built-in plugins plus the recording and blocking test plugins) shared by
/// the process tests, and the test apps started with it: each (app, runtime) is started once, on
/// first use, and reused by every test that needs it (tests tell their requests apart by an
/// <c>x-test-tag</c> header), so the suite starts each process once.
/// </summary>
public sealed class InboundAppsFixture : IDisposable
{
    public const string BlockBody = "blocked by the block test plugin";
    public const string GrpcBlockMessage = "throttled: retry in 7 s, ça va";

    private readonly Dictionary<string, RunningApp> _apps = new(StringComparer.Ordinal);

    public InboundAppsFixture()
    {
        Home = new AgentHomeCopy();
        Home.AddTestPlugin("rec", "Governor.TestPlugins.InboundRecordingPlugin", order: 0, interceptionPoints: new[] { "inbound" });
        Home.AddTestPlugin("block", "Governor.TestPlugins.InboundBlockingPlugin", order: 0, interceptionPoints: new[] { "inbound" });
        Home.AddTestPlugin("route", "Governor.TestPlugins.InboundRouteBlockingPlugin", order: 0, interceptionPoints: new[] { "inbound" });
    }

    public AgentHomeCopy Home { get; }

    /// <summary>The settings of the recording and blocking plugins for every app.</summary>
    public static Dictionary<string, string?> PluginSettings(string recordFile) => new()
    {
        ["GOVERNOR_PLUGINS__REC__FILE"] = recordFile,
        ["GOVERNOR_PLUGINS__REC__HEADERS"] = "x-test-tag,user-agent",
        ["GOVERNOR_PLUGINS__REC__QUERY"] = "q",
        ["GOVERNOR_PLUGINS__REC__ORDER"] = "0",
        ["GOVERNOR_PLUGINS__BLOCK__ORDER"] = "10",
        ["GOVERNOR_PLUGINS__BLOCK__HEADER"] = "x-block",
        ["GOVERNOR_PLUGINS__BLOCK__PATH"] = "/blocked",
        ["GOVERNOR_PLUGINS__BLOCK__STATUS"] = "429",
        ["GOVERNOR_PLUGINS__BLOCK__BODY"] = BlockBody,
        ["GOVERNOR_PLUGINS__BLOCK__HEADERS"] = "retry-after=7,x-blocked-by=block-plugin",
        ["GOVERNOR_PLUGINS__BLOCK__GRPCSTATUS"] = "8",
        ["GOVERNOR_PLUGINS__BLOCK__GRPCMESSAGE"] = GrpcBlockMessage,
        ["GOVERNOR_PLUGINS__BLOCK__PASSHEADER"] = "x-governed=yes",
    };

    public RunningApp Get(string project, string tfm)
    {
        string key = $"{project}-{tfm}";
        lock (_apps)
        {
            if (!_apps.TryGetValue(key, out var app) || app.Process.HasExited)
            {
                app?.Dispose();
                app = RunningApp.Start(Home, project, tfm, PluginSettings(Path.Combine(Home.LogDirectory, $"records-{key}.jsonl")));
                _apps[key] = app;
            }

            return app;
        }
    }

    public void Dispose()
    {
        foreach (var app in _apps.Values)
        {
            app.Dispose();
        }

        Home.Dispose();
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InboundProcessCollection : ICollectionFixture<InboundAppsFixture>
{
    public const string Name = "inbound processes";
}

/// <summary>A test app process with the agent attached, an HTTP/1.1 port and an h2c (HTTP/2 only) port.</summary>
public sealed class RunningApp : IDisposable
{
    private static readonly HttpClient s_http1 = new() { Timeout = TimeSpan.FromSeconds(10) };

    private static readonly HttpClient s_http2 = new() { Timeout = TimeSpan.FromSeconds(10) };

    private RunningApp(AppProcess process, int http1Port, int http2Port, string recordFile, AgentHomeCopy home)
    {
        Process = process;
        Http1Port = http1Port;
        Http2Port = http2Port;
        RecordFile = recordFile;
        Home = home;
    }

    public AppProcess Process { get; }

    public int Http1Port { get; }

    public int Http2Port { get; }

    public string RecordFile { get; }

    public AgentHomeCopy Home { get; }

    public string Http1 => $"http://127.0.0.1:{Http1Port}";

    public string Http2 => $"http://127.0.0.1:{Http2Port}";

    /// <summary>Publishes (cached) and starts an app with two Kestrel endpoints from configuration: no code in the app.</summary>
    public static RunningApp Start(AgentHomeCopy home, string project, string tfm, Dictionary<string, string?> settings, string extraArguments = "")
    {
        var published = TestApps.Publish($"tests/apps/{project}", tfm);
        int h1 = AppProcess.FreePort();
        int h2 = AppProcess.FreePort();
        string arguments = $"--Kestrel:Endpoints:h1:Url=http://127.0.0.1:{h1} --Kestrel:Endpoints:h2:Url=http://127.0.0.1:{h2} --Kestrel:Endpoints:h2:Protocols=Http2 {extraArguments}".Trim();
        var process = AppProcess.Start(published, arguments, home.Environment(settings));
        try
        {
            process.WaitForHttp($"http://127.0.0.1:{h1}/", TimeSpan.FromSeconds(30));
        }
        catch
        {
            process.Dispose();
            throw;
        }

        return new RunningApp(process, h1, h2, settings["GOVERNOR_PLUGINS__REC__FILE"]!, home);
    }

    public static string NewTag() => Guid.NewGuid().ToString("N")[..12];

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string tag, bool http2 = false, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(method, (http2 ? Http2 : Http1) + path);
        if (http2)
        {
            // h2c with prior knowledge: a request message keeps its own version, not the client's default.
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        request.Headers.Add("x-test-tag", tag);
        foreach (var (name, value) in headers)
        {
            request.Headers.Add(name, value);
        }

        return (http2 ? s_http2 : s_http1).SendAsync(request);
    }

    /// <summary>Waits for the recording plugin's line for (tag, path): completion is reported just after the response.</summary>
    public JsonElement WaitForRecord(string tag, string path, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            foreach (var record in Records())
            {
                if (record.GetProperty("path").GetString() == path && record.GetProperty("headers").GetProperty("x-test-tag").GetString() == tag)
                {
                    return record;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No record for {path} with tag {tag} in {RecordFile}:\n{(File.Exists(RecordFile) ? File.ReadAllText(RecordFile) : "(no file)")}\nApp output:\n{Process.Output}");
            }

            Thread.Sleep(25);
        }
    }

    public List<JsonElement> Records() => JsonLines.Read(RecordFile);

    public void Dispose() => Process.Dispose();
}

/// <summary>The grpc-js client in tests/grpc-peer (its npm packages are installed by <see cref="GrpcJsPeer"/> on first use).</summary>
public static class GrpcPeer
{
    public static string Directory => GrpcJsPeer.Directory;

    /// <summary>Runs client.js and returns its one-line verdict ("reply status=0 ..." or "error status=N message=...").</summary>
    public static string Call(string address, string method, string name, params string[] metadata)
    {
        string args = $"client.js {address} {method} {name} {string.Join(' ', metadata)}".Trim();
        var (code, output) = TestApps.Run("node", args, TimeSpan.FromSeconds(30), Directory);
        Assert.True(code == 0, $"node {args} exited with {code}:\n{output}");
        return output.Trim();
    }
}
