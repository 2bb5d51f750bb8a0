using System.Text.Json;
using OpenWeights.Onnx.IO;

namespace OpenWeights.Onnx.Checkpoints;

/// <summary>
/// <c>model.safetensors.index.json</c>: which shard holds each tensor. Honoured strictly: every shard it names must
/// be a file inside the checkpoint folder (no <c>..</c>, no absolute path, no link leading out), and the shards must
/// hold exactly the tensors it maps to them, so a stale or tampered index is an error rather than a silent mix-up.
/// </summary>
internal sealed class ShardIndex
{
    public const string FileName = "model.safetensors.index.json";

    private readonly string _path;
    private readonly Dictionary<string, string> _shardOf;

    private ShardIndex(string path, Dictionary<string, string> shardOf, List<string> shards)
    {
        _path = path;
        _shardOf = shardOf;
        Shards = shards;
    }

    /// <summary>Full paths of the shards, in name order.</summary>
    public IReadOnlyList<string> Shards { get; }

    /// <summary>The folder's index, or null when it has none.</summary>
    public static ShardIndex? Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            return null;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new CheckpointException($"{path}: not valid JSON ({e.Message}).", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: missing object field 'weight_map'.");
            var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString() is not { Length: > 0 } shard)
                    throw new CheckpointException($"{path}: weight_map['{entry.Name}'] must be a shard file name, found {entry.Value.GetRawText()}.");
                if (!shardOf.TryAdd(entry.Name, shard))
                    throw new CheckpointException($"{path}: weight_map lists tensor '{entry.Name}' twice.");
            }
            if (shardOf.Count == 0)
                throw new CheckpointException($"{path}: weight_map is empty.");

            var shards = new List<string>();
            foreach (string shard in shardOf.Values.Distinct().Order(StringComparer.Ordinal))
            {
                if (Path.IsPathRooted(shard) || shard.Split('/', '\\').Any(part => part is ".." or "." or ""))
                    throw new CheckpointException(
                        $"{path}: shard '{shard}' is not a plain file name inside the checkpoint folder; an index may not point elsewhere.");
                string full = Path.Combine(directory, shard);
                if (!File.Exists(full))
                    throw new CheckpointException($"{path}: shard '{shard}' is listed in weight_map but {full} does not exist.");
                CheckInsideFolder(directory, full, path);
                shards.Add(full);
            }
            return new ShardIndex(path, shardOf, shards);
        }
    }

    /// <summary>
    /// A checkpoint file may be a link (the Hugging Face cache links <c>snapshots/&lt;rev&gt;/x</c> to <c>../../blobs/…</c>)
    /// but must resolve inside the folder, or inside that cache's blobs.
    /// </summary>
    public static void CheckInsideFolder(string directory, string file, string namedBy)
    {
        string folder = RealPath.Resolve(directory);
        string real = RealPath.Resolve(file);
        if (RealPath.IsSameOrInside(real, folder))
            return;
        // <repo>/snapshots/<revision> → <repo>/blobs
        if (Path.GetDirectoryName(folder) is { } snapshots && Path.GetFileName(snapshots) == "snapshots"
            && Path.GetDirectoryName(snapshots) is { } repo
            && RealPath.IsSameOrInside(real, Path.Combine(repo, "blobs")))
            return;
        throw new CheckpointException(
            $"{namedBy}: {Path.GetFileName(file)} leads outside the checkpoint folder (to {real}); refusing to read it.");
    }

    /// <summary>The shards hold exactly the tensors the index maps to them.</summary>
    public void CheckAgainst(IEnumerable<SafeTensorsFile> files)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            string shard = Path.GetFileName(file.Path);
            foreach (string name in file.Tensors.Keys)
            {
                found.Add(name);
                if (!_shardOf.TryGetValue(name, out string? mapped))
                    throw new CheckpointException($"{_path}: tensor '{name}' is in {shard} but weight_map does not list it; the index is stale.");
                if (!string.Equals(Path.GetFileName(mapped), shard, StringComparison.Ordinal))
                    throw new CheckpointException($"{_path}: weight_map puts tensor '{name}' in {mapped}, but it is in {shard}.");
            }
        }
        foreach (var (name, shard) in _shardOf)
            if (!found.Contains(name))
                throw new CheckpointException($"{_path}: weight_map puts tensor '{name}' in {shard}, but that shard does not hold it.");
    }
}
