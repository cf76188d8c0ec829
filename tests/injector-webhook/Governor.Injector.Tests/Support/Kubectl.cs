using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Governor.Injector.Tests.Support;

/// <summary>Applies a JSON Patch with the real Kubernetes client, offline.</summary>
internal static class Kubectl
{
    public static JsonObject Patch(JsonObject pod, string? patch)
    {
        if (patch is null)
            return pod.DeepClone().AsObject();
        var directory = Directory.CreateTempSubdirectory("governor-kubectl-");
        try
        {
            // JSON is YAML, so this is the pod.yaml the client reads.
            var file = Path.Combine(directory.FullName, "pod.yaml");
            File.WriteAllText(file, pod.ToJsonString());
            var start = new ProcessStartInfo("kubectl")
            {
                ArgumentList = { "patch", "--local", "-f", file, "--type=json", "-p", patch, "-o", "json", "--show-managed-fields" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                Environment = { ["KUBECONFIG"] = Path.Combine(directory.FullName, "no-kubeconfig") },
            };
            using var process = StartOrExplain(start);
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(30_000), "kubectl did not finish");
            Assert.True(process.ExitCode == 0, $"kubectl patch failed ({process.ExitCode}): {stderr.Result}\npatch: {patch}");
            return JsonNode.Parse(stdout.Result)!.AsObject();
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static Process StartOrExplain(ProcessStartInfo start)
    {
        try
        {
            return Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new Xunit.Sdk.XunitException($"kubectl is needed to apply the patch like the API server does ({ex.Message}); the machine image has it as the Debian package kubectl");
        }
    }
}
