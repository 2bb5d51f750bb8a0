using System.Collections.Concurrent;
using System.Text.Json;
using OpenWeights.Onnx.Generation.Constraints;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>
/// OpenAI's <c>response_format</c>: <c>text</c> (free), <c>json_object</c>, or <c>json_schema</c> with
/// <c>json_schema.schema</c>, turned into an <see cref="OutputConstraint"/> enforced while sampling (always strictly:
/// <c>strict: false</c> is accepted and enforced the same). Constraints are kept by schema text, so requests that
/// repeat a schema share its token masks instead of computing them again.
/// </summary>
internal static class ResponseFormat
{
    private const int MaxCached = 64;
    private static readonly OutputConstraint AnyObject = OutputConstraint.JsonObject();
    private static readonly ConcurrentDictionary<string, OutputConstraint> BySchema = new();

    public static OutputConstraint? Parse(JsonFields f)
    {
        if (f.Get("response_format") is not { } format)
            return null;
        var rf = JsonFields.Object(format, "response_format");
        string type = rf.RequiredString("type");
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return AnyObject;
            case "json_schema":
                break;
            default:
                throw OpenAiException.InvalidValue(rf.PathOf("type"),
                    $"'{type}' is not one of 'text', 'json_object', 'json_schema'.");
        }
        var spec = JsonFields.Object(rf.Get("json_schema") ?? throw OpenAiException.BadRequest(
            "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema", "missing_required_parameter"),
            rf.PathOf("json_schema"));
        spec.String("name");
        spec.Bool("strict");
        var schema = spec.Get("schema") ?? throw OpenAiException.BadRequest(
            "Missing required parameter: 'response_format.json_schema.schema'.", spec.PathOf("schema"), "missing_required_parameter");
        if (schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True))
            throw OpenAiException.InvalidType(spec.PathOf("schema"), "an object (a JSON Schema)", JsonFields.Describe(schema));

        string key = schema.GetRawText();
        if (BySchema.TryGetValue(key, out var cached))
            return cached;
        OutputConstraint constraint;
        try
        {
            constraint = OutputConstraint.JsonSchema(schema);
        }
        catch (JsonSchemaException e)
        {
            throw OpenAiException.InvalidValue(spec.PathOf("schema"), $"Invalid schema for response_format: {e.Message}");
        }
        if (BySchema.Count >= MaxCached)
            BySchema.Clear();
        return BySchema.GetOrAdd(key, constraint);
    }

    /// <summary><c>logit_bias</c>: token ids (as strings, as OpenAI sends them) to a bias in [-100, 100].</summary>
    public static IReadOnlyDictionary<int, float>? ParseLogitBias(JsonFields f)
    {
        if (f.Get("logit_bias") is not { } bias)
            return null;
        string path = f.PathOf("logit_bias");
        if (bias.ValueKind != JsonValueKind.Object)
            throw OpenAiException.InvalidType(path, "an object mapping token ids to biases", JsonFields.Describe(bias));
        var result = new Dictionary<int, float>();
        foreach (var p in bias.EnumerateObject())
        {
            if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                throw OpenAiException.InvalidValue(path, $"Invalid key in 'logit_bias': '{p.Name}'. Keys must be token ids (non-negative integers).");
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double value) || value < -100 || value > 100)
                throw OpenAiException.InvalidValue(path,
                    $"Invalid value for 'logit_bias' key '{p.Name}': expected a number in [-100, 100], but got {p.Value.GetRawText()}.");
            result[id] = (float)value;
        }
        return result.Count == 0 ? null : result;
    }
}
