using System.Text.Json;

namespace OpenWeights.Onnx.Hub;

/// <summary>
/// Whether a cached snapshot holds a whole checkpoint (config and every weight file), decided from the disk
/// alone, so that a model already pulled converts without asking the Hub anything.
/// </summary>
public static class CachedCheckpoint
{
    public const string IndexFile = "model.safetensors.index.json";

    public static bool IsComplete(string folder)
    {
        if (!File.Exists(Path.Combine(folder, "config.json")))
            return false;
        string index = Path.Combine(folder, IndexFile);
        if (File.Exists(index))
            return ShardsOf(index) is { Count: > 0 } shards && shards.All(s => File.Exists(Path.Combine(folder, s)));
        return Directory.EnumerateFiles(folder, "*.safetensors").Any(File.Exists);
    }

    private static HashSet<string>? ShardsOf(string index)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(index));
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                return null;
            return map.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String)
                .Select(p => p.Value.GetString()!).ToHashSet(StringComparer.Ordinal);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
