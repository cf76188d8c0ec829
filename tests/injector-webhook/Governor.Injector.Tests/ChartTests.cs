using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Governor.Injector.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace Governor.Injector.Tests;

/// <summary>
/// charts/governor checked without helm: every file parses, templates are well formed and only
/// use values that exist (in values.yaml and the schema), values.yaml satisfies the schema, and
/// what the chart tells the API server and the injector agrees with the injector's code.
/// </summary>
public sealed class ChartTests
{
    private static JsonObject Values => ChartFiles.ReadYaml("values.yaml")!.AsObject();

    private static JsonObject Schema => JsonNode.Parse(ChartFiles.Read("values.schema.json"))!.AsObject();

    private static List<JsonNode?> Template(string name) =>
        ChartFiles.TemplateDocuments(Path.Combine(ChartFiles.ChartDirectory, "templates", name));

    [Fact]
    public void Chart_EveryFile_ParsesAndTemplatesAreWellFormed()
    {
        var files = Directory.EnumerateFiles(ChartFiles.ChartDirectory, "*", SearchOption.AllDirectories).ToList();
        Assert.Contains(files, f => f.EndsWith("NOTES.txt", StringComparison.Ordinal));
        foreach (var file in files)
        {
            var name = Path.GetRelativePath(ChartFiles.ChartDirectory, file);
            if (name.StartsWith("templates", StringComparison.Ordinal))
            {
                Assert.True(!ChartFiles.DelimiterProblems(File.ReadAllText(file)).Any(),
                    $"{name}: {string.Join("; ", ChartFiles.DelimiterProblems(File.ReadAllText(file)))}");
                if (name.EndsWith(".yaml", StringComparison.Ordinal))
                {
                    var documents = ChartFiles.TemplateDocuments(file).Where(d => d is not null).ToList();
                    Assert.True(documents.Count > 0, $"{name} has no manifest");
                    foreach (var manifest in documents)
                    {
                        Assert.False(string.IsNullOrEmpty((string?)manifest!["apiVersion"]), $"{name}: a manifest without apiVersion");
                        Assert.False(string.IsNullOrEmpty((string?)manifest["kind"]), $"{name}: a manifest without kind");
                        Assert.NotNull(manifest["metadata"]?["name"]);
                    }
                }
            }
            else if (name.EndsWith(".json", StringComparison.Ordinal))
            {
                Assert.NotNull(JsonNode.Parse(File.ReadAllText(file)));
            }
            else
            {
                Assert.Single(ChartFiles.YamlToJson(File.ReadAllText(file)));
            }
        }

        var chart = ChartFiles.ReadYaml("Chart.yaml")!;
        Assert.Equal("v2", (string?)chart["apiVersion"]);
        Assert.Equal("governor", (string?)chart["name"]);
    }

    [Fact]
    public void Templates_ValuesReferences_ExistInValuesAndSchema()
    {
        var values = Values;
        var schema = Schema;
        var checkedPaths = 0;
        foreach (var template in ChartFiles.Templates())
        {
            foreach (var path in ChartFiles.ValuesReferences(File.ReadAllText(template)))
            {
                JsonNode? node = values;
                JsonNode? schemaNode = schema;
                foreach (var segment in path.Split('.'))
                {
                    Assert.True(node is JsonObject map && map.ContainsKey(segment), $"{Path.GetFileName(template)}: .Values.{path} is not in values.yaml");
                    node = node![segment];
                    schemaNode = schemaNode?["properties"]?[segment];
                    Assert.True(schemaNode is not null, $"{Path.GetFileName(template)}: .Values.{path} is not in values.schema.json");
                }

                checkedPaths++;
            }
        }

        Assert.True(checkedPaths > 20, $"only {checkedPaths} value references found");
    }

    [Fact]
    public void Templates_Includes_AreDefined()
    {
        var templates = ChartFiles.Templates().Select(File.ReadAllText).ToList();
        var defined = templates.SelectMany(ChartFiles.Definitions).ToHashSet();
        var used = templates.SelectMany(ChartFiles.Includes).ToHashSet();

        Assert.Empty(used.Except(defined));
        Assert.Contains("governor.fullname", used);
    }

    [Fact]
    public void ValuesYaml_ConformsToSchema()
    {
        Assert.Empty(JsonSchemaSubset.Validate(Schema, Values));
    }

    [Theory]
    [InlineData("agent", "imagePullPolicy", "\"Sometimes\"", "is not one of")]
    [InlineData("agent", "volumeSizeLimit", "\"lots\"", "does not match")]
    [InlineData("agent", "probePort", "70000", "maximum")]
    [InlineData("webhook", "timeoutSeconds", "\"5\"", "expected integer")]
    [InlineData("injector", "replica", "3", "unknown key 'replica'")]
    public void ValuesSchema_BadValue_IsRejected(string section, string key, string json, string error)
    {
        var values = Values;
        values[section]![key] = JsonNode.Parse(json);

        Assert.Contains(JsonSchemaSubset.Validate(Schema, values), e => e.Contains(error, StringComparison.Ordinal));
    }

    [Fact]
    public void Values_InjectedDefaults_MatchInjectorConstants()
    {
        var agent = Values["agent"]!;
        var defaults = new InjectorOptions();

        Assert.Equal(InjectionConventions.DefaultAgentImage, (string?)agent["image"]);
        Assert.Equal("ghcr.io/governor/agent:0.1.0", (string?)agent["image"]);
        Assert.Equal(defaults.AgentImagePullPolicy, (string?)agent["imagePullPolicy"]);
        Assert.Equal(InjectionConventions.DefaultAgentVolumeSizeLimit, (string?)agent["volumeSizeLimit"]);
        Assert.Equal(InjectionConventions.DefaultProbePort, (int)agent["probePort"]!);
        Assert.Equal(15020, (int)agent["probePort"]!);
        Assert.Equal(defaults.InitCpuRequest, (string?)agent["initResources"]!["requests"]!["cpu"]);
        Assert.Equal(defaults.InitMemoryRequest, (string?)agent["initResources"]!["requests"]!["memory"]);
        Assert.Equal(defaults.InitCpuLimit, (string?)agent["initResources"]!["limits"]!["cpu"]);
        Assert.Equal(defaults.InitMemoryLimit, (string?)agent["initResources"]!["limits"]!["memory"]);
        Assert.True((bool)agent["plugins"]![InjectionConventions.LosslessPlugin]!);

        var injector = Values["injector"]!;
        Assert.Equal(defaults.Port, (int)injector["port"]!);
        Assert.Equal(defaults.MaxRequestBodyBytes, (long)injector["maxRequestBodyBytes"]!);
        Assert.Equal(InjectionConventions.Version, (string?)ChartFiles.ReadYaml("Chart.yaml")!["appVersion"]);
    }

    [Fact]
    public void Deployment_InjectorEnvironment_IsReadByInjectorOptions()
    {
        var deployment = Template("deployment.yaml").Single()!;
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var keys = container["env"]!.AsArray().Select(e => (string)e!["name"]!)
            .Where(n => n.StartsWith("Injector__", StringComparison.Ordinal)).Select(n => n["Injector__".Length..]).ToList();
        Assert.True(keys.Count >= 12, "the deployment passes the agent settings to the injector");

        foreach (var key in keys)
        {
            var property = typeof(InjectorOptions).GetProperty(key);
            Assert.True(property is not null, $"Injector__{key} is not an InjectorOptions setting");
            var sample = SampleSetting(key, property!.PropertyType);
            var options = InjectorOptions.FromConfiguration(new ConfigurationBuilder()
                .AddInMemoryCollection([KeyValuePair.Create<string, string?>("Injector:" + key, sample)]).Build());
            var read = property.GetValue(options);
            Assert.Equal(sample, read is IEnumerable<string> list ? string.Join(',', list) : Convert.ToString(read, System.Globalization.CultureInfo.InvariantCulture));
        }

        // The TLS directory the injector reads is where the secret is mounted.
        var tlsDirectory = (string?)container["env"]!.AsArray().Single(e => (string?)e!["name"] == "Injector__TlsDirectory")!["value"];
        Assert.Contains(container["volumeMounts"]!.AsArray(), m => (string?)m!["mountPath"] == tlsDirectory && (bool)m["readOnly"]!);
        Assert.Equal("POD_NAMESPACE", (string?)container["env"]![0]!["name"]);
    }

    [Fact]
    public async Task Deployment_ProbesAndWebhookPath_AreServedByTheInjector()
    {
        var deployment = Template("deployment.yaml").Single()!;
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var webhook = Template("webhook.yaml").Last()!;
        var path = (string)webhook["webhooks"]![0]!["clientConfig"]!["service"]!["path"]!;
        await using var server = await WebhookServer.StartAsync();

        foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
        {
            Assert.Equal("HTTPS", (string?)container[probe]!["httpGet"]!["scheme"]);
            Assert.Equal("ok", await server.Client.GetStringAsync((string)container[probe]!["httpGet"]!["path"]!));
        }

        var (status, _) = await server.PostAsync(path, new StringContent(TestPods.Review(TestPods.BarePod()).ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, status);

        // The injector's own pods opt out, even in a labelled namespace.
        Assert.Equal("false", (string?)deployment["spec"]!["template"]!["metadata"]!["labels"]![InjectionConventions.InjectKey]);
        var security = container["securityContext"]!;
        Assert.True((bool)security["readOnlyRootFilesystem"]!);
        Assert.False((bool)security["allowPrivilegeEscalation"]!);
        Assert.Equal("ALL", (string?)security["capabilities"]!["drop"]![0]);
    }

    [Fact]
    public void WebhookConfiguration_IsFailOpenAndSelectsByTheInjectorsKeys()
    {
        var configuration = Template("webhook.yaml").Single(d => (string?)d!["kind"] == "MutatingWebhookConfiguration")!;
        var webhook = configuration["webhooks"]!.AsArray().Single()!;

        Assert.Equal("Ignore", (string?)webhook["failurePolicy"]);
        Assert.Equal("None", (string?)webhook["sideEffects"]);
        Assert.Equal("IfNeeded", (string?)webhook["reinvocationPolicy"]);
        Assert.Equal(5, (int)Values["webhook"]!["timeoutSeconds"]!);
        Assert.Equal("v1", (string?)webhook["admissionReviewVersions"]![0]);
        var rule = webhook["rules"]!.AsArray().Single()!;
        Assert.Equal(["CREATE"], rule["operations"]!.AsArray().Select(o => (string)o!));
        Assert.Equal(["pods"], rule["resources"]!.AsArray().Select(o => (string)o!));

        var namespaceExpressions = webhook["namespaceSelector"]!["matchExpressions"]!.AsArray();
        Assert.Equal(InjectionConventions.InjectKey, (string?)namespaceExpressions[0]!["key"]);
        Assert.Equal(InjectionConventions.NamespaceEnabledValue, (string?)namespaceExpressions[0]!["values"]![0]);
        Assert.Equal("kubernetes.io/metadata.name", (string?)namespaceExpressions[1]!["key"]);
        Assert.Equal("NotIn", (string?)namespaceExpressions[1]!["operator"]);
        Assert.Equal(InjectionConventions.InjectKey, (string?)webhook["objectSelector"]!["matchExpressions"]![0]!["key"]);

        // The range renders two webhooks: namespace opt-in (pod label "false" opts out) and
        // pod-label opt-in ("true") in the other namespaces.
        var text = File.ReadAllText(Path.Combine(ChartFiles.ChartDirectory, "templates", "webhook.yaml"));
        Assert.Contains("""range $mode := list "namespace" "object" """.TrimEnd(), text, StringComparison.Ordinal);
        Assert.Contains("""operator: {{ ternary "In" "NotIn" (eq $mode "namespace") }}""", text, StringComparison.Ordinal);
        Assert.Contains("""operator: {{ ternary "NotIn" "In" (eq $mode "namespace") }}""", text, StringComparison.Ordinal);
        Assert.Contains("""values: [{{ ternary "false" "true" (eq $mode "namespace") | quote }}]""", text, StringComparison.Ordinal);

        var helpers = ChartFiles.Read("templates/_helpers.tpl");
        var excluded = Regex.Match(helpers, @"\$namespaces := list ((?:""[^""]+"" )+)\.Release\.Namespace").Groups[1].Value;
        Assert.Equal(InjectionConventions.AlwaysExcludedNamespaces, excluded.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim('"')));
    }

    [Fact]
    public void WebhookConfiguration_HelmGeneratedTls_IsKeptAcrossUpgrades()
    {
        var text = File.ReadAllText(Path.Combine(ChartFiles.ChartDirectory, "templates", "webhook.yaml"));

        Assert.Contains("lookup \"v1\" \"Secret\" .Release.Namespace $secretName", text, StringComparison.Ordinal);
        Assert.Contains("genCA", text, StringComparison.Ordinal);
        Assert.Contains("genSignedCert", text, StringComparison.Ordinal);
        Assert.Contains("caBundle: {{ $caBundle }}", text, StringComparison.Ordinal);
        var secret = Template("webhook.yaml").Single(d => (string?)d!["kind"] == "Secret")!;
        Assert.Equal("kubernetes.io/tls", (string?)secret["type"]);
        Assert.Equal(["ca.crt", "tls.crt", "tls.key"], secret["data"]!.AsObject().Select(p => p.Key));
        var certificate = Template("certificate.yaml").Single(d => (string?)d!["kind"] == "Certificate")!;
        Assert.Equal(ChartFiles.Placeholder, (string?)certificate["spec"]!["secretName"]);
        Assert.Contains("cert-manager.io/inject-ca-from", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Dockerfiles_AgentImage_MatchesTheInitContainerContract()
    {
        var agent = File.ReadAllText(Path.Combine(ChartFiles.RepoRoot, "docker", "agent.Dockerfile"));

        Assert.Matches(@"(?m)^COPY artifacts/governor/ " + Regex.Escape(InjectionConventions.AgentHome) + "/$", agent);
        Assert.Matches(@"(?m)^USER " + InjectionConventions.AgentImageUid + ":" + InjectionConventions.AgentImageUid + "$", agent);
        Assert.Matches(@"(?m)^FROM busybox:", agent);
        Assert.Contains($"test -f {InjectionConventions.StartupHookPath}", agent, StringComparison.Ordinal);
        Assert.Contains($"CMD [\"cp\", \"-R\", \"{InjectionConventions.AgentHome}/.\", \"{InjectionConventions.InitTargetPath}/\"]", agent, StringComparison.Ordinal);

        var injector = File.ReadAllText(Path.Combine(ChartFiles.RepoRoot, "docker", "injector.Dockerfile"));
        Assert.Matches(@"(?m)^EXPOSE " + (int)Values["injector"]!["port"]! + "$", injector);
        Assert.Matches(@"(?m)^USER [0-9]+:[0-9]+$", injector);
        Assert.Contains("injector-webhook/Governor.Injector/Governor.Injector.csproj", injector, StringComparison.Ordinal);
    }

    private static string SampleSetting(string key, Type type) => key switch
    {
        _ when type == typeof(int) || type == typeof(long) => "4321",
        _ when type == typeof(IReadOnlyList<string>) => "alpha,beta",
        "AgentImagePullPolicy" => "Never",
        _ when key.StartsWith("Init", StringComparison.Ordinal) || key.EndsWith("SizeLimit", StringComparison.Ordinal) => "7Mi",
        _ => "sample/" + key.ToLowerInvariant(),
    };
}
