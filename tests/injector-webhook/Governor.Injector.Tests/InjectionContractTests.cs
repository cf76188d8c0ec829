using System.Diagnostics;
using System.Text.Json.Nodes;
using Governor.Injector.Tests.Support;
using Governor.Testing;

namespace Governor.Injector.Tests;

/// <summary>
/// The injection contract end to end, without a cluster: the webhook's patch is applied with the
/// real Kubernetes client, the init container's own command lays out the agent volume (from the
/// built agent home, standing in for the agent image), and an app process is started with exactly
/// the env of the patched container, with the container's mount paths mapped to local folders the
/// way the kubelet mounts volumes. The agent must start, report the pod's app and lane, and serve
/// readiness where the injected probe points.
/// </summary>
[Collection(nameof(InjectionContractTests))]
public sealed class InjectionContractTests
{
    [Fact]
    public async Task PatchedPod_AppStartedWithItsEnvAndVolumes_AgentStartsAndServesTheInjectedReadinessProbe()
    {
        int appPort = AppProcess.FreePort();
        int probePort = AppProcess.FreePort();
        var pod = TestPods.Parse($$"""
        {
          "kind": "Pod", "apiVersion": "v1",
          "metadata": {
            "generateName": "orders-5d8c7b9f4-", "namespace": "shop",
            "labels": { "app.kubernetes.io/name": "shop-orders", "traffic.opensergo.io/label": "gray" }
          },
          "spec": {
            "containers": [ {
              "name": "orders", "image": "registry.example/shop/orders:2.0",
              "env": [
                { "name": "ASPNETCORE_URLS", "value": "http://127.0.0.1:{{appPort}}" },
                { "name": "GOVERNOR_PROBE_PORT", "value": "{{probePort}}" }
              ],
              "resources": {}, "terminationMessagePath": "/dev/termination-log",
              "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"
            } ],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"
          }
        }
        """);
        await using var webhook = await WebhookServer.StartAsync();
        var answer = await webhook.MutateAsync(TestPods.Review(pod));
        var patched = Kubectl.Patch(pod, answer.Patch);

        using var node = new TempDirectory("governor-node");
        var volumes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var volume in patched["spec"]!["volumes"]!.AsArray())
        {
            string name = volume!["name"]!.GetValue<string>();
            Assert.NotNull(volume["emptyDir"]);
            volumes[name] = Directory.CreateDirectory(node.Combine("volumes", name)).FullName;
        }

        // The init container, as the kubelet runs it: its command, with its mounts and the agent image's home.
        var init = patched["spec"]!["initContainers"]!.AsArray().Single()!.AsObject();
        var initPaths = MountMap(init, volumes);
        initPaths[InjectionConventions.AgentHome] = RepoPaths.AgentHome;
        var command = init["command"]!.AsArray().Select(c => Map(c!.GetValue<string>(), initPaths)).ToList();
        RunToEnd(command);
        Assert.True(File.Exists(Path.Combine(volumes[InjectionConventions.AgentVolumeName], "Governor.StartupHook.dll")), "the init container's command did not lay out the agent home");

        // The app container: its env (downward API resolved from the pod) with its mount paths mapped.
        var container = patched["spec"]!["containers"]!.AsArray().Single()!.AsObject();
        var paths = MountMap(container, volumes);
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var entry in container["env"]!.AsArray())
        {
            string name = entry!["name"]!.GetValue<string>();
            env[name] = entry["value"] is { } value
                ? Map(value.GetValue<string>(), paths)
                : FieldRef(patched, entry["valueFrom"]!["fieldRef"]!["fieldPath"]!.GetValue<string>());
        }

        var app = TestApps.Publish("tests/apps/WebApp", "net10.0");
        using var process = AppProcess.Start(app, string.Empty, env);
        process.WaitForHttp($"http://127.0.0.1:{appPort}/", TimeSpan.FromSeconds(60));

        var probe = container["readinessProbe"]!["httpGet"]!;
        Assert.Equal(probePort, probe["port"]!.GetValue<int>());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var readiness = $"http://127.0.0.1:{probePort}{probe["path"]!.GetValue<string>()}";
        var deadline = Stopwatch.StartNew();
        System.Net.HttpStatusCode last = default;
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                using var response = await http.GetAsync(readiness);
                last = response.StatusCode;
                if (last == System.Net.HttpStatusCode.OK)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        Assert.True(last == System.Net.HttpStatusCode.OK, $"readiness at {readiness} answered {last}. App output:\n{process.Output}");
        string logs = volumes[InjectionConventions.LogVolumeName];
        var status = new StatusFile(Path.Combine(logs, $"governor-status-{process.Id}.json"))
            .WaitFor(s => StatusFile.PluginState(s, "lossless") == "Started" && StatusFile.PluginState(s, "aspnetcore") == "Started", what: "lossless and aspnetcore Started");
        Assert.Equal("shop-orders", status.GetProperty("app").GetString());
        Assert.Equal("gray", status.GetProperty("tag").GetString());
        Assert.StartsWith(volumes[InjectionConventions.AgentVolumeName], status.GetProperty("home").GetString(), StringComparison.Ordinal);
        Assert.NotEmpty(Directory.GetFiles(logs, "governor-*.log"));
    }

    // mountPath -> local folder of the volume it mounts.
    private static Dictionary<string, string> MountMap(JsonObject container, Dictionary<string, string> volumes)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var mount in container["volumeMounts"]?.AsArray() ?? new JsonArray())
        {
            if (volumes.TryGetValue(mount!["name"]!.GetValue<string>(), out var local))
            {
                map[mount["mountPath"]!.GetValue<string>().TrimEnd('/')] = local;
            }
        }

        return map;
    }

    private static string Map(string value, Dictionary<string, string> paths)
    {
        foreach (var (mountPath, local) in paths.OrderByDescending(p => p.Key.Length))
        {
            value = value.Replace(mountPath, local, StringComparison.Ordinal);
        }

        return value;
    }

    // The downward API fields the injector uses (metadata.labels['x'], metadata.name, metadata.namespace).
    private static string FieldRef(JsonObject pod, string fieldPath)
    {
        var metadata = pod["metadata"]!;
        if (fieldPath.StartsWith("metadata.labels['", StringComparison.Ordinal))
        {
            string key = fieldPath["metadata.labels['".Length..^2];
            return metadata["labels"]?[key]?.GetValue<string>() ?? string.Empty;
        }

        return fieldPath switch
        {
            "metadata.namespace" => metadata["namespace"]!.GetValue<string>(),
            "metadata.name" => metadata["name"]?.GetValue<string>() ?? metadata["generateName"]!.GetValue<string>() + "x1y2z",
            _ => throw new Xunit.Sdk.XunitException($"the injector uses a downward API field this test does not resolve: {fieldPath}"),
        };
    }

    private static void RunToEnd(IReadOnlyList<string> command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), $"{string.Join(' ', command)} did not finish");
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)} failed ({process.ExitCode}): {stderr}");
    }
}
