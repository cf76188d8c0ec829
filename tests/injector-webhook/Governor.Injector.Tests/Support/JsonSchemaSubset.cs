using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Governor.Injector.Tests.Support;

/// <summary>
/// Validates JSON against the draft-07 keywords values.schema.json uses (type, properties,
/// required, additionalProperties, propertyNames, enum, pattern, min/maxLength, minimum,
/// maximum, items, uniqueItems, local $ref). Helm validates values with the full spec; this is
/// the part that can run here. An unknown keyword fails loudly rather than being ignored.
/// </summary>
internal static class JsonSchemaSubset
{
    private static readonly HashSet<string> Known =
    [
        "$schema", "$ref", "title", "description", "definitions", "type", "properties", "required",
        "additionalProperties", "propertyNames", "enum", "pattern", "minLength", "maxLength",
        "minimum", "maximum", "items", "uniqueItems",
    ];

    public static List<string> Validate(JsonObject schema, JsonNode? instance)
    {
        var errors = new List<string>();
        Validate(schema, schema, instance, "$", errors);
        return errors;
    }

    private static void Validate(JsonObject root, JsonObject schema, JsonNode? value, string path, List<string> errors)
    {
        foreach (var (keyword, _) in schema)
        {
            if (!Known.Contains(keyword))
                throw new InvalidOperationException($"schema keyword '{keyword}' at {path} is not supported by this checker");
        }

        if (schema["$ref"] is { } reference)
        {
            var target = ((string)reference!).TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries)
                .Aggregate((JsonNode)root, (node, segment) => node[segment] ?? throw new InvalidOperationException($"unresolved $ref {reference}"));
            Validate(root, target.AsObject(), value, path, errors);
        }

        if (schema["type"] is { } type)
        {
            var allowed = type is JsonArray list ? list.Select(t => (string)t!).ToList() : [(string)type!];
            if (!allowed.Any(t => HasType(value, t)))
            {
                errors.Add($"{path}: expected {string.Join(" or ", allowed)}, got {value?.ToJsonString() ?? "null"}");
                return;
            }
        }

        if (schema["enum"] is JsonArray options && !options.Any(o => JsonNode.DeepEquals(o, value)))
            errors.Add($"{path}: {value?.ToJsonString()} is not one of {options.ToJsonString()}");

        if (value is JsonValue scalar && scalar.TryGetValue<string>(out var text))
        {
            if (schema["pattern"] is { } pattern && !Regex.IsMatch(text, (string)pattern!))
                errors.Add($"{path}: '{text}' does not match {pattern}");
            if (schema["minLength"] is { } min && text.Length < (int)min)
                errors.Add($"{path}: shorter than {min}");
            if (schema["maxLength"] is { } max && text.Length > (int)max)
                errors.Add($"{path}: longer than {max}");
        }

        if (value is JsonValue number && number.TryGetValue<double>(out var n))
        {
            if (schema["minimum"] is { } minimum && n < (double)minimum)
                errors.Add($"{path}: {n} < minimum {minimum}");
            if (schema["maximum"] is { } maximum && n > (double)maximum)
                errors.Add($"{path}: {n} > maximum {maximum}");
        }

        if (value is JsonObject obj)
        {
            var properties = schema["properties"] as JsonObject;
            foreach (var required in schema["required"]?.AsArray() ?? [])
            {
                if (!obj.ContainsKey((string)required!))
                    errors.Add($"{path}: required '{required}' is missing");
            }

            foreach (var (key, child) in obj)
            {
                if (schema["propertyNames"] is JsonObject names)
                    Validate(root, names, JsonValue.Create(key), $"{path}.{key} (name)", errors);
                if (properties?[key] is JsonObject propertySchema)
                    Validate(root, propertySchema, child, $"{path}.{key}", errors);
                else if (schema["additionalProperties"] is JsonValue allowed && !(bool)allowed)
                    errors.Add($"{path}: unknown key '{key}'");
                else if (schema["additionalProperties"] is JsonObject additional)
                    Validate(root, additional, child, $"{path}.{key}", errors);
            }
        }

        if (value is JsonArray array)
        {
            if (schema["items"] is JsonObject items)
            {
                for (var i = 0; i < array.Count; i++)
                    Validate(root, items, array[i], $"{path}[{i}]", errors);
            }

            if (schema["uniqueItems"] is JsonValue unique && (bool)unique &&
                array.Select(item => item?.ToJsonString()).Distinct().Count() != array.Count)
                errors.Add($"{path}: items are not unique");
        }
    }

    private static bool HasType(JsonNode? value, string type) => type switch
    {
        "null" => value is null,
        "object" => value is JsonObject,
        "array" => value is JsonArray,
        "boolean" => value is JsonValue v && v.TryGetValue<bool>(out _),
        "string" => value is JsonValue v && v.TryGetValue<string>(out _),
        "integer" => value is JsonValue v && v.TryGetValue<double>(out var d) && Math.Abs(d % 1) < double.Epsilon,
        "number" => value is JsonValue v && v.TryGetValue<double>(out _),
        _ => throw new InvalidOperationException($"unknown type '{type}'"),
    };
}
