
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

    /// <summary>Read weights holding NaN or ±Inf anyway (listed in <see cref="NonFiniteTensors"/>) rather than failing.</summary>
    public bool AllowNonFinite { get; set; }

    private readonly HashSet<string> _nonFinite = new(StringComparer.Ordinal);
    /// <summary>Tensors found to hold NaN or ±Inf while reading, when <see cref="AllowNonFinite"/> is set.</summary>
    public IReadOnlyCollection<string> NonFiniteTensors => _nonFinite;

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
            var index = ShardIndex.Load(directory);
            foreach (var path in index?.Shards ?? [SingleFile(directory)])
                files.Add(SafeTensorsFile.Open(path));
            var checkpoint = new Checkpoint(directory, config, generation, files);
            index?.CheckAgainst(files);
            return checkpoint;
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>
    /// A folder may hold other safetensors files beside the model (adapters, references): the Hugging Face
    /// convention is that an unsharded model is exactly model.safetensors.
    /// </summary>
    private static string SingleFile(string directory)
    {
        string model = System.IO.Path.Combine(directory, "model.safetensors");
        if (!File.Exists(model))
            throw new CheckpointException($"{directory}: neither model.safetensors nor model.safetensors.index.json found.");
        ShardIndex.CheckInsideFolder(directory, model, model);
        return model;
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

    /// <summary>
    /// Reads <paramref name="destination"/>.Length elements starting at element <paramref name="start"/>, as float32.
    /// Non-finite values are refused with the tensor's name (or recorded, with <see cref="AllowNonFinite"/>); the check
    /// runs on each small chunk right after its conversion, while it is still in cache, not as a second pass.
    /// </summary>
    public void ReadSingles(TensorInfo tensor, long start, Span<float> destination)
    {
        if (!tensor.DType.IsConvertibleFloat())
            throw new CheckpointException($"{Directory}: tensor '{tensor.Name}' has dtype {tensor.DType}; weights must be F32, F16 or BF16.");
        int size = tensor.DType.SizeInBytes();
        const int chunkElements = 1 << 14;
        for (int done = 0; done < destination.Length; done += chunkElements)
        {
            int n = Math.Min(chunkElements, destination.Length - done);
            var chunk = destination.Slice(done, n);
            FloatConversion.ToSingle(Bytes(tensor, (start + done) * size, n * size), tensor.DType, chunk);
            if (FloatConversion.IndexOfNonFinite(chunk) is var bad and >= 0)
                NonFinite(tensor, start + done + bad, chunk[bad]);
        }
    }

    private void NonFinite(TensorInfo tensor, long element, float value)
    {
        if (!AllowNonFinite)
            throw new CheckpointException(
                $"{_tensors[tensor.Name].File.Path}: tensor '{tensor.Name}' holds {(float.IsNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf")} at element {element}; the weights are corrupt " +
                "(NaN or infinity). Re-download the checkpoint, or pass --allow-nonfinite to convert it anyway.");
        _nonFinite.Add(tensor.Name);
    }

    public void Dispose() => _files.ForEach(f => f.Dispose());
}
