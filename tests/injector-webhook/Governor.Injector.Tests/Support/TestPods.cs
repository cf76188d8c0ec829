using System.Text.Json.Nodes;

namespace Governor.Injector.Tests.Support;

/// <summary>
/// Pods and AdmissionReviews shaped the way the API server sends them to a mutating webhook:
/// defaults applied, the ServiceAccount token volume already added, and for controller-made pods
/// a generateName but no name yet.
/// </summary>
internal static class TestPods
{
    /// <summary>
    /// A pod of Deployment "shop-api" as its ReplicaSet creates it: two containers, existing env
    /// including the app's own DOTNET_STARTUP_HOOKS, one container with its own readinessProbe.
    /// </summary>
    public static JsonObject DeploymentPod() => Parse("""
    {
      "kind": "Pod",
      "apiVersion": "v1",
      "metadata": {
        "generateName": "shop-api-7d9f8b6c5-",
        "namespace": "shop",
        "creationTimestamp": null,
        "labels": {
          "app.kubernetes.io/name": "shop-api",
          "pod-template-hash": "7d9f8b6c5",
          "traffic.opensergo.io/label": "gray"
        },
        "annotations": {
          "kubectl.kubernetes.io/restartedAt": "2025-03-01T10:00:00Z"
        },
        "ownerReferences": [
          {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "shop-api-7d9f8b6c5",
            "uid": "5f0e1a52-7c1b-4a4e-9d55-2f7f1d0c9b11",
            "controller": true,
            "blockOwnerDeletion": true
          }
        ],
        "managedFields": [
          {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2025-03-01T10:00:01Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": { "f:metadata": { "f:generateName": {} } }
          }
        ]
      },
      "spec": {
        "volumes": [
          {
            "name": "kube-api-access-x7k2p",
            "projected": {
              "sources": [
                { "serviceAccountToken": { "expirationSeconds": 3607, "path": "token" } },
                { "configMap": { "name": "kube-root-ca.crt", "items": [ { "key": "ca.crt", "path": "ca.crt" } ] } },
                { "downwardAPI": { "items": [ { "path": "namespace", "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.namespace" } } ] } }
              ],
              "defaultMode": 420
            }
          }
        ],
        "containers": [
          {
            "name": "api",
            "image": "registry.example.com/shop/api:1.4.2",
            "ports": [ { "name": "http", "containerPort": 8080, "protocol": "TCP" } ],
            "env": [
              { "name": "ASPNETCORE_URLS", "value": "http://+:8080" },
              { "name": "DOTNET_STARTUP_HOOKS", "value": "/app/hooks/Tracing.Hook.dll" }
            ],
            "resources": { "limits": { "memory": "256Mi" }, "requests": { "cpu": "100m", "memory": "128Mi" } },
            "volumeMounts": [
              { "name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount" }
            ],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent"
          },
          {
            "name": "worker",
            "image": "registry.example.com/shop/worker:1.4.2",
            "env": [
              { "name": "WORKER_QUEUE", "value": "orders" }
            ],
            "resources": {},
            "volumeMounts": [
              { "name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount" }
            ],
            "readinessProbe": {
              "exec": { "command": [ "cat", "/tmp/ready" ] },
              "timeoutSeconds": 1,
              "periodSeconds": 10,
              "successThreshold": 1,
              "failureThreshold": 3
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent"
          }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
          { "key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 },
          { "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300 }
        ],
        "priority": 0,
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority"
      },
      "status": {}
    }
    """);

    /// <summary>A single-container pod with no labels at all.</summary>
    public static JsonObject BarePod(string generateName = "job-", string container = "main") => Parse($$"""
    {
      "kind": "Pod",
      "apiVersion": "v1",
      "metadata": { "generateName": "{{generateName}}", "creationTimestamp": null },
      "spec": {
        "containers": [ { "name": "{{container}}", "image": "registry.example.com/app:1", "resources": {} } ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30
      },
      "status": {}
    }
    """);

    /// <summary>An admission.k8s.io/v1 AdmissionReview for CREATE of <paramref name="pod"/>.</summary>
    public static JsonObject Review(JsonObject pod, string ns = "shop", string operation = "CREATE") => new()
    {
        ["kind"] = "AdmissionReview",
        ["apiVersion"] = "admission.k8s.io/v1",
        ["request"] = new JsonObject
        {
            ["uid"] = Guid.NewGuid().ToString(),
            ["kind"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["kind"] = "Pod" },
            ["resource"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["resource"] = "pods" },
            ["requestKind"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["kind"] = "Pod" },
            ["requestResource"] = new JsonObject { ["group"] = "", ["version"] = "v1", ["resource"] = "pods" },
            ["namespace"] = ns,
            ["operation"] = operation,
            ["userInfo"] = new JsonObject
            {
                ["username"] = "system:serviceaccount:kube-system:replicaset-controller",
                ["uid"] = "0b1b9c33-2f35-4a4c-8a43-6a0f8f8b9d21",
                ["groups"] = new JsonArray("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"),
            },
            ["object"] = pod.DeepClone(),
            ["oldObject"] = null,
            ["dryRun"] = false,
            ["options"] = new JsonObject { ["kind"] = "CreateOptions", ["apiVersion"] = "meta.k8s.io/v1" },
        },
    };

    public static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();

    public static JsonObject Container(JsonObject pod, string name) =>
        pod["spec"]!["containers"]!.AsArray().Single(c => (string?)c!["name"] == name)!.AsObject();

    public static JsonObject? Env(JsonObject container, string name) =>
        container["env"]?.AsArray().SingleOrDefault(e => (string?)e!["name"] == name)?.AsObject();

    public static void AssertJsonEqual(JsonNode expected, JsonNode actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual),
            $"expected:\n{expected.ToJsonString(Indented)}\nactual:\n{actual.ToJsonString(Indented)}");

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };
}
