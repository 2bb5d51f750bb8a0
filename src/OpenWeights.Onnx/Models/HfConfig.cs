using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Models;

/// <summary>
/// A checkpoint's <c>config.json</c>, with typed accessors whose errors name the file and the field.
/// Families read what they need from it; nothing here knows any architecture.
/// </summary>
public sealed class HfConfig
{
    private readonly JsonObject _root;
    public string Path { get; }

    public HfConfig(string path, JsonObject root)
    {
        Path = path;
        _root = root;
    }

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
            if (_root["architectures"] is JsonArray { Count: > 0 } a && a[0]?.GetValue<string>() is { } name)
                return name;
            throw new CheckpointException($"{Path}: field 'architectures' must be a non-empty array of class names.");
        }
    }

    public int Int(string field) => Int(field, null) ?? throw Missing(field, "an integer");

    public int? Int(string field, int? fallback)
    {
        var node = _root[field];
        if (node is null) return fallback;
        try { return node.GetValue<int>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new CheckpointException($"{Path}: field '{field}' must be an integer, found {node.ToJsonString()}.");
        }
    }

    public double Double(string field) => Double(field, null) ?? throw Missing(field, "a number");

    public double? Double(string field, double? fallback)
    {
        var node = _root[field];
        if (node is null) return fallback;
        try { return node.GetValue<double>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new CheckpointException($"{Path}: field '{field}' must be a number, found {node.ToJsonString()}.");
        }
    }

    public bool Bool(string field, bool fallback)
    {
        var node = _root[field];
        if (node is null) return fallback;
        try { return node.GetValue<bool>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new CheckpointException($"{Path}: field '{field}' must be true or false, found {node.ToJsonString()}.");
        }
    }

    public string? String(string field) => _root[field] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    public JsonObject? Object(string field) => _root[field] as JsonObject;

    /// <summary>Token ids given as one integer or a list (eos_token_id often is a list).</summary>
    public int[] Ids(string field) => ParseIds(_root[field], Path, field);

    internal static int[] ParseIds(JsonNode? node, string path, string field) => node switch
    {
        null => [],
        JsonArray a => a.Select(x => x?.GetValue<int>() ?? throw new CheckpointException($"{path}: '{field}' holds a null id.")).ToArray(),
        JsonValue v when v.TryGetValue(out int id) => [id],
        _ => throw new CheckpointException($"{path}: field '{field}' must be an integer or a list of integers, found {node.ToJsonString()}."),
    };

    public CheckpointException Missing(string field, string expected) =>
        new($"{Path}: required field '{field}' ({expected}) is missing.");

    public CheckpointException Invalid(string field, string problem) =>
        new($"{Path}: field '{field}' {problem}.");
}
