using System.Text.Json;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint folder: <c>config.json</c>, <c>generation_config.json</c> and one or more
/// memory-mapped <c>*.safetensors</c> shards. Tensors are looked up by name across shards.
/// </summary>
public sealed unsafe class Checkpoint : IDisposable
{
    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, (SafeTensorsFile File, TensorInfo Info)> _tensors;

    public string Directory { get; }
    public HfConfig Config { get; }
    public GenerationConfig Generation { get; }
    public IReadOnlyList<SafeTensorsFile> Files => _files;
    public IEnumerable<TensorInfo> Tensors => _tensors.Values.Select(t => t.Info);

    private Checkpoint(string directory, HfConfig config, GenerationConfig generation, List<SafeTensorsFile> files)
    {
        Directory = directory;
        Config = config;
        Generation = generation;
        _files = files;
        _tensors = new(StringComparer.Ordinal);
        foreach (var file in files)
            foreach (var tensor in file.Tensors.Values)
                if (!_tensors.TryAdd(tensor.Name, (file, tensor)))
                    throw new CheckpointException($"{directory}: tensor '{tensor.Name}' appears in both {_tensors[tensor.Name].File.Path} and {file.Path}.");
    }

    public static Checkpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new CheckpointException($"{directory}: checkpoint folder not found.");
        var config = HfConfig.Load(System.IO.Path.Combine(directory, "config.json"));
        var generation = GenerationConfig.Load(System.IO.Path.Combine(directory, "generation_config.json"));

        var files = new List<SafeTensorsFile>();
        try
        {
            foreach (var path in ShardPaths(directory))
                files.Add(SafeTensorsFile.Open(path));
            return new Checkpoint(directory, config, generation, files);
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>The shards named by <c>model.safetensors.index.json</c>, or the folder's single file.</summary>
    private static IEnumerable<string> ShardPaths(string directory)
    {
        string index = System.IO.Path.Combine(directory, "model.safetensors.index.json");
        if (File.Exists(index))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(File.ReadAllBytes(index)); }
            catch (JsonException e) { throw new CheckpointException($"{index}: not valid JSON ({e.Message}).", e); }
            using (doc)
            {
                if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                    throw new CheckpointException($"{index}: missing object field 'weight_map'.");
                var shards = map.EnumerateObject().Select(p => p.Value.GetString() ?? "").Distinct().Order(StringComparer.Ordinal).ToList();
                foreach (var shard in shards)
                {
                    string path = System.IO.Path.Combine(directory, shard);
                    if (!File.Exists(path))
                        throw new CheckpointException($"{index}: shard '{shard}' is listed in weight_map but {path} does not exist.");
                }
                return shards.Select(s => System.IO.Path.Combine(directory, s)).ToList();
            }
        }

        // A folder may hold other safetensors files beside the model (adapters, references): the
        // Hugging Face convention is that an unsharded model is exactly model.safetensors.
        string model = System.IO.Path.Combine(directory, "model.safetensors");
        if (File.Exists(model))
            return [model];
        throw new CheckpointException($"{directory}: neither model.safetensors nor model.safetensors.index.json found.");
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo Get(string name) =>
        _tensors.TryGetValue(name, out var t)
            ? t.Info
            : throw new CheckpointException($"{Directory}: tensor '{name}' not found in the checkpoint ({_tensors.Count} tensors in {_files.Count} file(s)).");

    /// <summary>Raw bytes of a tensor, memory-mapped; valid while the checkpoint is open.</summary>
    public ReadOnlySpan<byte> Bytes(TensorInfo tensor, long byteOffset, int byteCount)
    {
        var file = _tensors[tensor.Name].File;
        if (byteOffset < 0 || byteOffset + byteCount > tensor.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset));
        return new ReadOnlySpan<byte>(file.Pointer(tensor) + byteOffset, byteCount);
    }

    /// <summary>Reads <paramref name="destination"/>.Length elements starting at element <paramref name="start"/>, as float32.</summary>
    public void ReadSingles(TensorInfo tensor, long start, Span<float> destination)
    {
        if (!tensor.DType.IsConvertibleFloat())
            throw new CheckpointException($"{Directory}: tensor '{tensor.Name}' has dtype {tensor.DType}; weights must be F32, F16 or BF16.");
        int size = tensor.DType.SizeInBytes();
        // Stay under the 2 GiB span limit on very large tensors by converting in slices.
        const int sliceElements = 1 << 26;
        for (int done = 0; done < destination.Length; done += sliceElements)
        {
            int n = Math.Min(sliceElements, destination.Length - done);
            FloatConversion.ToSingle(Bytes(tensor, (start + done) * size, n * size), tensor.DType, destination.Slice(done, n));
        }
    }

    public void Dispose() => _files.ForEach(f => f.Dispose());
}
