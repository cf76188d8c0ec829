using System.Text.Json.Nodes;

namespace Governor.Injector.Mutation;

/// <summary>
/// Computes an RFC 6902 JSON Patch that turns one JSON tree into another. The mutators work on
/// a copy of the pod and this diff is what the API server receives, so a mutator never writes
/// patch operations by hand (the usual source of wrong indexes and unescaped paths).
/// Arrays are compared element by element with appended elements added at their index, which is
/// exactly the shape of our mutations; any other array change replaces the array.
/// </summary>
internal static class JsonPatchDiff
{
    public static JsonArray Create(JsonNode? original, JsonNode? mutated)
    {
        var operations = new JsonArray();
        Diff(original, mutated, "", operations);
        return operations;
    }

    private static void Diff(JsonNode? original, JsonNode? mutated, string path, JsonArray operations)
    {
        if (JsonNode.DeepEquals(original, mutated))
            return;

        switch (original, mutated)
        {
            case (JsonObject before, JsonObject after):
                foreach (var (key, _) in before)
                {
                    if (!after.ContainsKey(key))
                        operations.Add(Operation("remove", Append(path, key)));
                }

                foreach (var (key, value) in after)
                {
                    if (before.TryGetPropertyValue(key, out var previous))
                        Diff(previous, value, Append(path, key), operations);
                    else
                        operations.Add(Operation("add", Append(path, key), value));
                }

                break;

            case (JsonArray before, JsonArray after):
                var common = Math.Min(before.Count, after.Count);
                for (var i = 0; i < common; i++)
                    Diff(before[i], after[i], Append(path, i), operations);
                for (var i = common; i < after.Count; i++)
                    operations.Add(Operation("add", Append(path, i), after[i]));
                // Remove from the end so that each index is still valid when it is applied.
                for (var i = before.Count - 1; i >= common; i--)
                    operations.Add(Operation("remove", Append(path, i)));
                break;

            default:
                operations.Add(Operation("replace", path, mutated));
                break;
        }
    }

    private static JsonObject Operation(string op, string path, JsonNode? value = null)
    {
        var operation = new JsonObject { ["op"] = op, ["path"] = path };
        if (op != "remove")
            operation["value"] = value?.DeepClone();
        return operation;
    }

    private static string Append(string path, int index) => path + "/" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>RFC 6901: '~' becomes "~0" and '/' becomes "~1" (annotation keys have '/').</summary>
    internal static string Append(string path, string key) =>
        path + "/" + key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
