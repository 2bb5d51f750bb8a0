using System.Text.Json;
using OpenWeights.Onnx.Server.Errors;

namespace OpenWeights.Onnx.Server.Requests;

/// <summary>
/// Typed access to one JSON object of a request, with OpenAI-style errors naming the parameter (with its path, such
/// as <c>messages[1].content</c>), what was expected and what came. A field set to null counts as absent.
/// </summary>
internal readonly struct JsonFields
{
    private readonly JsonElement _object;
    private readonly string _path;

    private JsonFields(JsonElement obj, string path)
    {
        _object = obj;
        _path = path;
    }

    public static JsonFields Root(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
            ? new JsonFields(root, "")
            : throw OpenAiException.BadRequest(
                $"The request body must be a JSON object, but got {Describe(root)}.", null, "invalid_json");

    public static JsonFields Object(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.Object
            ? new JsonFields(element, path)
            : throw OpenAiException.InvalidType(path, "an object", Describe(element));

    public string PathOf(string name) => _path.Length == 0 ? name : $"{_path}.{name}";

    public JsonElement? Get(string name) =>
        _object.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public bool Has(string name) => Get(name) is not null;

    public string? String(string name) => Get(name) is { } v ? AsString(v, PathOf(name)) : null;

    public string RequiredString(string name) =>
        String(name) ?? throw OpenAiException.BadRequest($"Missing required parameter: '{PathOf(name)}'.", PathOf(name), "missing_required_parameter");

    public bool? Bool(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        { } v => throw OpenAiException.InvalidType(PathOf(name), "a boolean", Describe(v)),
    };

    public long? Long(string name)
    {
        if (Get(name) is not { } v)
            return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long value))
            return value;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9.2e18)
            return (long)d; // 2.0 is an integer too
        throw OpenAiException.InvalidType(PathOf(name), "an integer", Describe(v));
    }

    public int? Int(string name, long min, long max)
    {
        if (Long(name) is not { } value)
            return null;
        if (value < min)
            throw OpenAiException.InvalidValue(PathOf(name), $"integer below minimum value. Expected a value >= {min}, but got {value} instead.");
        if (value > max)
            throw OpenAiException.InvalidValue(PathOf(name), $"integer above maximum value. Expected a value <= {max}, but got {value} instead.");
        return (int)value;
    }

    public float? Number(string name, double min, double max)
    {
        if (Get(name) is not { } v)
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
            throw OpenAiException.InvalidType(PathOf(name), "a number", Describe(v));
        if (value < min)
            throw OpenAiException.InvalidValue(PathOf(name), $"decimal below minimum value. Expected a value >= {Format(min)}, but got {Format(value)} instead.");
        if (value > max)
            throw OpenAiException.InvalidValue(PathOf(name), $"decimal above maximum value. Expected a value <= {Format(max)}, but got {Format(value)} instead.");
        return (float)value;
    }

    public static string AsString(JsonElement v, string path)
    {
        if (v.ValueKind != JsonValueKind.String)
            throw OpenAiException.InvalidType(path, "a string", Describe(v));
        try
        {
            return v.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // e.g. an escaped lone surrogate, which is not text.
            throw OpenAiException.InvalidValue(path, "the string is not valid Unicode text.");
        }
    }

    public static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static string Format(double value) => value.ToString("G", System.Globalization.CultureInfo.InvariantCulture);
}
