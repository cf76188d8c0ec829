using System.Text.Json.Nodes;
using Governor.Injector.Tests.Support;

namespace Governor.Injector.Tests;

/// <summary>The webhook's patch, applied with the real Kubernetes client, gives exactly the expected pod.</summary>
public sealed class MutationTests(MutationTests.Server server) : IClassFixture<MutationTests.Server>
{
    public sealed class Server : IAsyncLifetime
    {
        internal WebhookServer Webhook { get; private set; } = null!;

        public async Task InitializeAsync() => Webhook = await WebhookServer.StartAsync("ExcludedNamespaces=legacy");

        public async Task DisposeAsync() => await Webhook.DisposeAsync();
    }

    private const string Hook = "/opt/governor/Governor.StartupHook.dll";

    private static readonly JsonObject InitContainer = TestPods.Parse("""
    {
      "name": "governor-agent-init",
      "image": "ghcr.io/governor/agent:0.1.0",
      "imagePullPolicy": "IfNotPresent",
      "command": [ "cp", "-R", "/opt/governor/.", "/governor-target/" ],
      "resources": { "requests": { "cpu": "10m", "memory": "16Mi" }, "limits": { "cpu": "100m", "memory": "64Mi" } },
      "securityContext": {
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": { "drop": [ "ALL" ] },
        "seccompProfile": { "type": "RuntimeDefault" }
      },
      "terminationMessagePolicy": "FallbackToLogsOnError",
      "volumeMounts": [ { "name": "governor-agent", "mountPath": "/governor-target" } ]
    }
    """);

    private static JsonObject AgentMount() => TestPods.Parse("""{ "name": "governor-agent", "mountPath": "/opt/governor", "readOnly": true }""");

    private static JsonObject LogMount() => TestPods.Parse("""{ "name": "governor-logs", "mountPath": "/var/log/governor" }""");

    private static JsonObject Readiness(int port) => TestPods.Parse($$"""
    {
      "httpGet": { "path": "/governor/ready", "port": {{port}}, "scheme": "HTTP" },
      "periodSeconds": 2, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 2
    }
    """);

    private static JsonObject Env(string name, string value) => new() { ["name"] = name, ["value"] = value };

    private static JsonObject TagEnv() => TestPods.Parse("""
    { "name": "GOVERNOR_TAG", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.labels['traffic.opensergo.io/label']" } } }
    """);

    private async Task<(JsonObject Patched, AdmissionAnswer Answer)> InjectAsync(JsonObject pod, string ns = "shop")
    {
        var answer = await server.Webhook.MutateAsync(TestPods.Review(pod, ns));
        return (Kubectl.Patch(pod, answer.Patch), answer);
    }

    [Fact]
    public async Task Mutate_DeploymentPodWithExistingEnv_PatchYieldsExactlyTheExpectedPod()
    {
        var pod = TestPods.DeploymentPod();

        var (patched, answer) = await InjectAsync(pod);

        var expected = pod.DeepClone().AsObject();
        expected["metadata"]!["annotations"]!["governor.io/injected"] = "0.1.0";
        expected["spec"]!["volumes"]!.AsArray().Add(TestPods.Parse("""{ "name": "governor-agent", "emptyDir": { "sizeLimit": "64Mi" } }"""));
        expected["spec"]!["volumes"]!.AsArray().Add(TestPods.Parse("""{ "name": "governor-logs", "emptyDir": { "sizeLimit": "32Mi" } }"""));
        expected["spec"]!["initContainers"] = new JsonArray(InitContainer.DeepClone());

        var api = TestPods.Container(expected, "api");
        TestPods.Env(api, "DOTNET_STARTUP_HOOKS")!["value"] = "/app/hooks/Tracing.Hook.dll:" + Hook;
        foreach (var env in new[] { Env("GOVERNOR_HOME", "/opt/governor"), Env("GOVERNOR_APP", "shop-api"), TagEnv(), Env("GOVERNOR_LOG_DIR", "/var/log/governor"), Env("GOVERNOR_PROBE_PORT", "15020"), Env("DOTNET_ReadyToRunExcludeList", "System.Net.Http") })
            api["env"]!.AsArray().Add(env);
        api["volumeMounts"]!.AsArray().Add(AgentMount());
        api["volumeMounts"]!.AsArray().Add(LogMount());
        api["readinessProbe"] = Readiness(15020);

        // The second container gets the next port: both agents share the pod's network namespace.
        // Its own readinessProbe is kept.
        var worker = TestPods.Container(expected, "worker");
        foreach (var env in new[] { Env("DOTNET_STARTUP_HOOKS", Hook), Env("GOVERNOR_HOME", "/opt/governor"), Env("GOVERNOR_APP", "shop-api"), TagEnv(), Env("GOVERNOR_LOG_DIR", "/var/log/governor"), Env("GOVERNOR_PROBE_PORT", "15021"), Env("DOTNET_ReadyToRunExcludeList", "System.Net.Http") })
            worker["env"]!.AsArray().Add(env);
        worker["volumeMounts"]!.AsArray().Add(AgentMount());
        worker["volumeMounts"]!.AsArray().Add(LogMount());

        TestPods.AssertJsonEqual(expected, patched);
        Assert.Empty(answer.Warnings);
    }

    [Theory]
    [InlineData("System.Private.Xml", "System.Private.Xml;System.Net.Http")]
    [InlineData("System.Net.Http;System.Private.Xml", "System.Net.Http;System.Private.Xml")]
    [InlineData("System.Private.Xml System.Net.Http", "System.Private.Xml System.Net.Http")]
    public async Task Mutate_ContainerSetsReadyToRunExcludeList_OwnNamesKeptAndMissingOnesAdded(string own, string expected)
    {
        var pod = TestPods.DeploymentPod();
        TestPods.Container(pod, "api")["env"]!.AsArray().Add(Env("DOTNET_ReadyToRunExcludeList", own));

        var (patched, _) = await InjectAsync(pod);

        var api = TestPods.Container(patched, "api");
        Assert.Equal(expected, (string?)TestPods.Env(api, "DOTNET_ReadyToRunExcludeList")!["value"]);
        Assert.Single(api["env"]!.AsArray(), e => (string?)e!["name"] == "DOTNET_ReadyToRunExcludeList");
    }

    [Fact]
    public async Task Mutate_HttpClientPluginDisabled_NoReadyToRunExclusion()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["governor.io/plugins-disabled"] = "httpclient";

        var (patched, _) = await InjectAsync(pod);

        Assert.Null(TestPods.Env(TestPods.Container(patched, "api"), "DOTNET_ReadyToRunExcludeList"));
        Assert.Equal("httpclient", (string?)TestPods.Env(TestPods.Container(patched, "api"), "GOVERNOR_PLUGINS_DISABLED")!["value"]);
    }

    [Fact]
    public async Task Mutate_ContainerAlreadyMountsTheLogPath_KeepsItsMountAndLogsThere()
    {
        var pod = TestPods.DeploymentPod();
        pod["spec"]!["volumes"]!.AsArray().Add(TestPods.Parse("""{ "name": "own-logs", "emptyDir": {} }"""));
        TestPods.Container(pod, "api")["volumeMounts"]!.AsArray().Add(TestPods.Parse("""{ "name": "own-logs", "mountPath": "/var/log/governor/" }"""));

        var (patched, _) = await InjectAsync(pod);

        var mounts = TestPods.Container(patched, "api")["volumeMounts"]!.AsArray();
        Assert.DoesNotContain(mounts, m => (string?)m!["name"] == "governor-logs");
        Assert.Contains(mounts, m => (string?)m!["name"] == "own-logs");
        Assert.Equal("/var/log/governor", (string?)TestPods.Env(TestPods.Container(patched, "api"), "GOVERNOR_LOG_DIR")!["value"]);
    }

    [Fact]
    public async Task Mutate_OwnPatchedOutput_ReturnsNoPatch()
    {
        var (patched, _) = await InjectAsync(TestPods.DeploymentPod());

        var again = await server.Webhook.MutateAsync(TestPods.Review(patched));

        Assert.Null(again.Patch);
        Assert.Empty(again.Warnings);
    }

    [Fact]
    public async Task Mutate_PatchedOutputWithoutMarker_OnlyRestoresTheMarker()
    {
        // Every mutator is idempotent on its own, not only through the marker annotation.
        var (patched, _) = await InjectAsync(TestPods.DeploymentPod());
        patched["metadata"]!["annotations"]!.AsObject().Remove("governor.io/injected");

        var again = await server.Webhook.MutateAsync(TestPods.Review(patched));

        TestPods.AssertJsonEqual(
            JsonNode.Parse("""[{ "op": "add", "path": "/metadata/annotations/governor.io~1injected", "value": "0.1.0" }]""")!,
            JsonNode.Parse(again.Patch!)!);
    }

    [Fact]
    public async Task Mutate_StartupHooksFromValueFrom_SkipsThatContainerWithWarning()
    {
        var pod = TestPods.DeploymentPod();
        TestPods.Container(pod, "worker")["env"]!.AsArray().Add(TestPods.Parse("""
            { "name": "DOTNET_STARTUP_HOOKS", "valueFrom": { "configMapKeyRef": { "name": "hooks", "key": "list" } } }
            """));

        var (patched, answer) = await InjectAsync(pod);

        TestPods.AssertJsonEqual(TestPods.Container(pod, "worker"), TestPods.Container(patched, "worker"));
        Assert.Equal("/app/hooks/Tracing.Hook.dll:" + Hook, (string?)TestPods.Env(TestPods.Container(patched, "api"), "DOTNET_STARTUP_HOOKS")!["value"]);
        var warning = Assert.Single(answer.Warnings);
        Assert.Contains("'worker'", warning, StringComparison.Ordinal);
        Assert.Contains("valueFrom", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mutate_OnlyContainerHasStartupHooksFromValueFrom_ReturnsNoPatchWithWarning()
    {
        var pod = TestPods.BarePod();
        TestPods.Container(pod, "main")["env"] = new JsonArray(TestPods.Parse("""
            { "name": "DOTNET_STARTUP_HOOKS", "valueFrom": { "secretKeyRef": { "name": "hooks", "key": "list" } } }
            """));

        var answer = await server.Webhook.MutateAsync(TestPods.Review(pod));

        Assert.Null(answer.Patch);
        Assert.Contains(answer.Warnings, w => w.Contains("'main'", StringComparison.Ordinal) && w.Contains("valueFrom", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mutate_StartupHooksAlreadyListingTheAgent_LeavesValueAlone()
    {
        var pod = TestPods.BarePod();
        TestPods.Container(pod, "main")["env"] = new JsonArray(Env("DOTNET_STARTUP_HOOKS", "/custom/governor/Governor.StartupHook.dll"));

        var (patched, _) = await InjectAsync(pod);

        Assert.Equal("/custom/governor/Governor.StartupHook.dll", (string?)TestPods.Env(TestPods.Container(patched, "main"), "DOTNET_STARTUP_HOOKS")!["value"]);
    }

    [Theory]
    [InlineData("labels")]
    [InlineData("annotations")]
    public async Task Mutate_OptOutLabelOrAnnotation_ReturnsNoPatch(string map)
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]![map]!["governor.io/inject"] = "false";

        var answer = await server.Webhook.MutateAsync(TestPods.Review(pod));

        Assert.Null(answer.Patch);
    }

    [Fact]
    public async Task Mutate_OptInLabelInUnlabelledNamespace_Injects()
    {
        // The API server calls the webhook for this pod through the objectSelector webhook
        // (ChartTests checks that selector); the webhook then injects it.
        var pod = TestPods.BarePod("report-");
        pod["metadata"]!["labels"] = new JsonObject { ["governor.io/inject"] = "true" };

        var (patched, _) = await InjectAsync(pod, "plain");

        Assert.Equal("0.1.0", (string?)patched["metadata"]!["annotations"]!["governor.io/injected"]);
        Assert.Equal(Hook, (string?)TestPods.Env(TestPods.Container(patched, "main"), "DOTNET_STARTUP_HOOKS")!["value"]);
        Assert.Equal("report", (string?)TestPods.Env(TestPods.Container(patched, "main"), "GOVERNOR_APP")!["value"]);
    }

    [Theory]
    [InlineData("kube-system")]
    [InlineData("kube-public")]
    [InlineData(WebhookServer.OwnNamespace)]
    [InlineData("legacy")]
    public async Task Mutate_ExcludedNamespace_ReturnsNoPatch(string ns)
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["namespace"] = ns;

        var answer = await server.Webhook.MutateAsync(TestPods.Review(pod, ns));

        Assert.Null(answer.Patch);
    }

    [Fact]
    public async Task Mutate_ContainersAnnotation_InjectsOnlyNamedContainers()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["governor.io/containers"] = "worker, sidecar";

        var (patched, answer) = await InjectAsync(pod);

        TestPods.AssertJsonEqual(TestPods.Container(pod, "api"), TestPods.Container(patched, "api"));
        var worker = TestPods.Container(patched, "worker");
        Assert.Equal(Hook, (string?)TestPods.Env(worker, "DOTNET_STARTUP_HOOKS")!["value"]);
        Assert.Equal("15020", (string?)TestPods.Env(worker, "GOVERNOR_PROBE_PORT")!["value"]);
        Assert.Contains(answer.Warnings, w => w.Contains("'sidecar'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mutate_RulesAnnotation_MountsConfigMapReadOnlyAndSetsRulesDir()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["governor.io/rules"] = "shop-rules";

        var (patched, answer) = await InjectAsync(pod);

        Assert.Empty(answer.Warnings);
        var volume = patched["spec"]!["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "governor-rules");
        TestPods.AssertJsonEqual(TestPods.Parse("""{ "name": "governor-rules", "configMap": { "name": "shop-rules", "optional": true } }"""), volume!);
        foreach (var name in new[] { "api", "worker" })
        {
            var container = TestPods.Container(patched, name);
            Assert.Contains(container["volumeMounts"]!.AsArray(), m => JsonNode.DeepEquals(m,
                TestPods.Parse("""{ "name": "governor-rules", "mountPath": "/etc/governor/rules", "readOnly": true }""")));
            Assert.Equal("/etc/governor/rules", (string?)TestPods.Env(container, "GOVERNOR_RULES_DIR")!["value"]);
        }
    }

    [Fact]
    public async Task Mutate_InvalidRulesConfigMapName_WarnsAndMountsNothing()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["governor.io/rules"] = "Shop_Rules";

        var (patched, answer) = await InjectAsync(pod);

        Assert.DoesNotContain(patched["spec"]!["volumes"]!.AsArray(), v => (string?)v!["name"] == "governor-rules");
        Assert.Null(TestPods.Env(TestPods.Container(patched, "api"), "GOVERNOR_RULES_DIR"));
        Assert.Contains(answer.Warnings, w => w.Contains("Shop_Rules", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mutate_LosslessDisabledByAnnotation_SetsEnvAndAddsNoProbe()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["governor.io/plugins-disabled"] = "Throttle, lossless";

        var (patched, _) = await InjectAsync(pod);

        var api = TestPods.Container(patched, "api");
        Assert.Equal("throttle,lossless", (string?)TestPods.Env(api, "GOVERNOR_PLUGINS_DISABLED")!["value"]);
        // Nobody would serve the readiness endpoint, so a probe would keep the pod unready.
        Assert.Null(api["readinessProbe"]);
    }

    [Fact]
    public async Task Mutate_DrainAnnotationsLongerThanGracePeriod_PassesEnvAndWarns()
    {
        var pod = TestPods.DeploymentPod();
        pod["metadata"]!["annotations"]!["governor.io/drain-delay"] = "10s";
        pod["metadata"]!["annotations"]!["governor.io/shutdown-timeout"] = "25s";

        var (patched, answer) = await InjectAsync(pod);

        var api = TestPods.Container(patched, "api");
        Assert.Equal("10s", (string?)TestPods.Env(api, "GOVERNOR_PLUGINS__LOSSLESS__DRAINDELAY")!["value"]);
        Assert.Equal("25s", (string?)TestPods.Env(api, "GOVERNOR_PLUGINS__LOSSLESS__SHUTDOWNTIMEOUT")!["value"]);
        var warning = Assert.Single(answer.Warnings);
        Assert.Contains("terminationGracePeriodSeconds 30", warning, StringComparison.Ordinal);
        Assert.Contains(">= 37", warning, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(26, true)]
    [InlineData(27, false)]
    public async Task Mutate_GracePeriodAgainstDefaultDrain_WarnsOnlyWhenTooShort(int grace, bool warns)
    {
        var pod = TestPods.BarePod();
        pod["spec"]!["terminationGracePeriodSeconds"] = grace;

        var answer = await server.Webhook.MutateAsync(TestPods.Review(pod));

        Assert.NotNull(answer.Patch);
        Assert.Equal(warns, answer.Warnings.Any(w => w.Contains("terminationGracePeriodSeconds", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("""{ "generateName": "shop-api-7d9f8b6c5-", "labels": { "pod-template-hash": "7d9f8b6c5" } }""", "shop-api")]
    [InlineData("""{ "generateName": "nightly-report-", "labels": { "app": "reports" } }""", "reports")]
    [InlineData("""{ "name": "orders-2", "labels": { "statefulset.kubernetes.io/pod-name": "orders-2" } }""", "orders")]
    [InlineData("""{ "name": "debug-shell" }""", "debug-shell")]
    public async Task Mutate_AppName_FromLabelElseNameStem(string metadata, string expected)
    {
        var pod = TestPods.BarePod();
        pod["metadata"] = TestPods.Parse(metadata);

        var (patched, _) = await InjectAsync(pod);

        Assert.Equal(expected, (string?)TestPods.Env(TestPods.Container(patched, "main"), "GOVERNOR_APP")!["value"]);
        Assert.Null(TestPods.Env(TestPods.Container(patched, "main"), "GOVERNOR_TAG"));
    }

    [Fact]
    public async Task Mutate_UserSetGovernorEnv_IsKeptAndProbeFollowsIt()
    {
        var pod = TestPods.BarePod();
        TestPods.Container(pod, "main")["env"] = new JsonArray(Env("GOVERNOR_APP", "billing"), Env("GOVERNOR_PROBE_PORT", "9100"));

        var (patched, _) = await InjectAsync(pod);

        var main = TestPods.Container(patched, "main");
        Assert.Equal("billing", (string?)TestPods.Env(main, "GOVERNOR_APP")!["value"]);
        Assert.Equal(9100, (int)main["readinessProbe"]!["httpGet"]!["port"]!);
    }

    [Fact]
    public async Task Mutate_PodWithUnexpectedShape_AllowsWithWarning()
    {
        // An internal failure must never block the pod: allowed, no patch, a warning.
        var pod = TestPods.BarePod();
        pod["spec"]!["containers"] = "not-a-list";

        var answer = await server.Webhook.MutateAsync(TestPods.Review(pod));

        Assert.Null(answer.Patch);
        Assert.Contains(answer.Warnings, w => w.Contains("internal error", StringComparison.Ordinal));
    }
}
