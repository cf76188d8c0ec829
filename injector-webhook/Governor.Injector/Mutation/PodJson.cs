using System.Text.Json.Nodes;

namespace Governor.Injector.Mutation;

/// <summary>
/// Small helpers over the pod's JSON tree. The pod stays a <see cref="JsonObject"/> (rather than
/// a typed model) so that fields this code does not know about survive untouched and the patch
/// contains only what the mutators changed. A field of the wrong JSON type throws, which the
/// caller turns into a fail-open answer.
/// </summary>
internal static class PodJson
{
    public static JsonObject Object(JsonObject parent, string key)
    {
        if (parent[key] is JsonObject existing)
            return existing;
        if (parent[key] is not null)
            throw new InvalidOperationException($"'{key}' is not an object.");
        var created = new JsonObject();
        parent[key] = created;
        return created;
    }

    public static JsonArray Array(JsonObject parent, string key)
    {
        if (parent[key] is JsonArray existing)
            return existing;
        if (parent[key] is not null)
            throw new InvalidOperationException($"'{key}' is not an array.");
        var created = new JsonArray();
        parent[key] = created;
        return created;
    }

    public static IEnumerable<JsonObject> Objects(JsonObject? parent, string key) =>
        parent?[key] switch
        {
            null => [],
            JsonArray array => array.Select(item => item as JsonObject ?? throw new InvalidOperationException($"an item of '{key}' is not an object.")),
            _ => throw new InvalidOperationException($"'{key}' is not an array."),
        };

    public static string? String(JsonObject? parent, string key) =>
        parent?[key] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    public static JsonObject? FindByName(JsonObject? parent, string arrayKey, string name) =>
        Objects(parent, arrayKey).FirstOrDefault(item => String(item, "name") == name);

    /// <summary>A label or annotation value, or null.</summary>
    public static string? Metadata(JsonObject pod, string map, string key) =>
        String(pod["metadata"]?[map] as JsonObject, key);

    public static JsonObject Env(string name, string value) => new() { ["name"] = name, ["value"] = value };
}
