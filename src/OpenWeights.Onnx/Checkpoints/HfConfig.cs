using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Checkpoints;

/// <summary>
/// A checkpoint's <c>config.json</c>, with typed accessors whose errors name the file and the field.
/// Families read what they need from it; nothing here knows any architecture.
/// </summary>
public sealed class HfConfig
{
    private readonly JsonObject _root;
    // "rope_scaling." for a section's view, so that errors name the nested field as the file spells it.
    private readonly string _prefix;
    public string Path { get; }

    public HfConfig(string path, JsonObject root) : this(path, root, "") { }

    private HfConfig(string path, JsonObject root, string prefix)
    {
        Path = path;
        _root = root;
        _prefix = prefix;
    }

    /// <summary>A nested object (e.g. <c>rope_scaling</c>) read with the same checks; null when absent or null.</summary>
    public HfConfig? Section(string field) => Object(field) is { } o ? new HfConfig(Path, o, _prefix + field + ".") : null;

    public static HfConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new CheckpointException($"{path}: config.json not found; a Hugging Face checkpoint folder needs one.");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o
                ? new HfConfig(path, o)
                : throw new CheckpointException($"{path}: must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    public JsonObject Root => _root;

    public bool Has(string field) => _root.TryGetPropertyValue(field, out var v) && v is not null;

    public string Architecture
    {
        get
        {
            if (_root["architectures"] is JsonArray { Count: > 0 } a && a[0] is JsonValue v && v.TryGetValue(out string? name)
                && name.Length > 0)
                return name;
            throw new CheckpointException($"{Path}: field 'architectures' must be a non-empty array of class names, found {Describe(_root["architectures"])}.");
        }
    }

    public int Int(string field) => Int(field, null) ?? throw Missing(field, "an integer");

    public int? Int(string field, int? fallback)
    {
        var node = _root[field];
        if (node is null) return fallback;
        if (node is JsonValue v && v.TryGetValue(out int value))
            return value;
        if (node is JsonValue d && d.TryGetValue(out double real) && real == Math.Floor(real) && real is >= int.MinValue and <= int.MaxValue)
            return (int)real;
        throw new CheckpointException($"{Path}: field '{_prefix}{field}' must be an integer, found {Describe(node)}.");
    }

    /// <summary>A required integer within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Int(string field, int min, int max) => Int(field, null, min, max) ?? throw Missing(field, $"an integer >= {min}");

    /// <summary>An optional integer within [<paramref name="min"/>, <paramref name="max"/>]; the fallback is not checked.</summary>
    public int? Int(string field, int? fallback, int min, int max)
    {
        if (!Has(field)) return fallback;
        int value = Int(field, null)!.Value;
        if (value < min || value > max)
            throw Invalid(field, max == int.MaxValue ? $"is {value}; it must be at least {min}" : $"is {value}; it must be between {min} and {max}");
        return value;
    }

    public double Double(string field) => Double(field, null) ?? throw Missing(field, "a number");

    public double? Double(string field, double? fallback)
    {
        var node = _root[field];
        if (node is null) return fallback;
        if (node is JsonValue v && v.TryGetValue(out double value) && double.IsFinite(value))
            return value;
        if (node is JsonValue i && i.TryGetValue(out long whole))
            return whole;
        throw new CheckpointException($"{Path}: field '{_prefix}{field}' must be a finite number, found {Describe(node)}.");
    }

    /// <summary>A number &gt; 0 (epsilons, rope_theta, scalars); the fallback is not checked.</summary>
    public double? Positive(string field, double? fallback)
    {
        if (!Has(field)) return fallback;
        double value = Double(field, null)!.Value;
        if (!(value > 0))
            throw Invalid(field, $"is {value}; it must be greater than 0");
        return value;
    }

    public bool Bool(string field, bool fallback)
    {
        var node = _root[field];
        if (node is null) return fallback;
        try { return node.GetValue<bool>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new CheckpointException($"{Path}: field '{_prefix}{field}' must be true or false, found {node.ToJsonString()}.");
        }
    }

    public string? String(string field)
    {
        var node = _root[field];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out string? s))
            return s;
        throw new CheckpointException($"{Path}: field '{_prefix}{field}' must be a string, found {Describe(node)}.");
    }

    /// <summary>An optional object (null when absent or null); any other JSON type is an error naming the field.</summary>
    public JsonObject? Object(string field) => _root[field] switch
    {
        null => null,
        JsonObject o => o,
        var other => throw new CheckpointException($"{Path}: field '{_prefix}{field}' must be an object or null, found {Describe(other)}."),
    };

    /// <summary>Token ids given as one integer or a list (eos_token_id often is a list).</summary>
    public int[] Ids(string field) => ParseIds(_root[field], Path, field);

    internal static int[] ParseIds(JsonNode? node, string path, string field)
    {
        // Ranges are checked against the vocabulary later (ModelChecks); -1 is a common "none" for pad_token_id.
        int Id(JsonNode? item) => item is JsonValue v && v.TryGetValue(out int id)
            ? id
            : throw new CheckpointException($"{path}: field '{field}' must hold integer token ids, found {Describe(item)}.");
        return node switch
        {
            null => [],
            JsonArray a => a.Select(Id).ToArray(),
            JsonValue => [Id(node)],
            _ => throw new CheckpointException($"{path}: field '{field}' must be an integer or a list of integers, found {Describe(node)}."),
        };
    }

    /// <summary>A JSON value as a message shows it: short, and saying what it is.</summary>
    internal static string Describe(JsonNode? node)
    {
        if (node is null) return "null";
        string text = node.ToJsonString();
        if (text.Length > 60) text = text[..57] + "...";
        return node switch
        {
            JsonObject => $"an object {text}",
            JsonArray => $"a list {text}",
            JsonValue v when v.TryGetValue(out string? _) => $"the string {text}",
            _ => text,
        };
    }

    public CheckpointException Missing(string field, string expected) =>
        new($"{Path}: required field '{_prefix}{field}' ({expected}) is missing.");

    public CheckpointException Invalid(string field, string problem) =>
        new($"{Path}: field '{_prefix}{field}' {problem}.");
}
