using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// A PEFT LoRA adapter folder (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>) as peft saves it:
/// per adapted module <c>base_model.model.{module}.lora_A.weight</c> [r, in] and <c>….lora_B.weight</c> [out, r].
/// Any other tensor (DoRA magnitudes, embedding adapters, biases, whole saved modules) is refused, naming it.
/// </summary>
public sealed unsafe class LoraAdapter : IDisposable
{
    public const string WeightsFile = "adapter_model.safetensors";
    private const string Prefix = "base_model.model.";
    private const string ASuffix = ".lora_A.weight", BSuffix = ".lora_B.weight";

    private readonly SafeTensorsFile _file;
    private readonly Dictionary<string, (TensorInfo? A, TensorInfo? B)> _modules;

    public string Directory { get; }
    public LoraConfig Config { get; }
    /// <summary>The adapted modules, as the base model names them (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public IReadOnlyCollection<string> Modules => _modules.Keys;

    private LoraAdapter(string directory, LoraConfig config, SafeTensorsFile file, Dictionary<string, (TensorInfo?, TensorInfo?)> modules)
    {
        Directory = directory;
        Config = config;
        _file = file;
        _modules = modules;
    }

    public static LoraAdapter Open(string directory)
    {
        var config = LoraConfig.Load(directory);
        string path = Path.Combine(directory, WeightsFile);
        if (!File.Exists(path))
            throw new CheckpointException(File.Exists(Path.Combine(directory, "adapter_model.bin"))
                ? $"{directory}: only adapter_model.bin (a pickle) is present; save the adapter as {WeightsFile} (peft's default, safe_serialization=True)."
                : $"{directory}: {WeightsFile} not found.");
        var file = SafeTensorsFile.Open(path);
        try
        {
            return new LoraAdapter(directory, config, file, Index(file));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static Dictionary<string, (TensorInfo?, TensorInfo?)> Index(SafeTensorsFile file)
    {
        var modules = new Dictionary<string, (TensorInfo? A, TensorInfo? B)>(StringComparer.Ordinal);
        foreach (var (name, info) in file.Tensors)
        {
            string Refuse(string what) => throw new CheckpointException($"{file.Path}: tensor '{name}' is {what}, which owonnx does not support.");
            if (!name.StartsWith(Prefix, StringComparison.Ordinal))
                Refuse($"not named as peft saves a LoRA tensor ('{Prefix}<module>.lora_A.weight')");
            bool isA = name.EndsWith(ASuffix, StringComparison.Ordinal), isB = name.EndsWith(BSuffix, StringComparison.Ordinal);
            if (!isA && !isB)
                Refuse(name.Contains("lora_embedding_") ? "an embedding adapter"
                    : name.Contains("lora_magnitude_vector") ? "a DoRA magnitude (use_dora)"
                    : name.EndsWith(".bias", StringComparison.Ordinal) ? "a trained bias"
                    : "not a LoRA A/B matrix (a module saved whole, modules_to_save?)");
            if (info.Shape.Length != 2)
                throw new CheckpointException($"{file.Path}: tensor '{name}' has shape {info.ShapeText}; a 2-D matrix was expected.");
            if (!info.DType.IsConvertibleFloat())
                throw new CheckpointException($"{file.Path}: tensor '{name}' has dtype {info.DType}; F32, F16 or BF16 was expected.");
            string module = name[Prefix.Length..^(isA ? ASuffix.Length : BSuffix.Length)];
            var pair = modules.GetValueOrDefault(module);
            modules[module] = isA ? (info, pair.B) : (pair.A, info);
        }
        foreach (var (module, (a, b)) in modules)
            if (a is null || b is null)
                throw new CheckpointException($"{file.Path}: module '{module}' has {(a is null ? "lora_B but no lora_A" : "lora_A but no lora_B")}.");
        if (modules.Count == 0)
            throw new CheckpointException($"{file.Path}: no LoRA tensors found.");
        return modules;
    }

    /// <summary>
    /// The adapter's pair for each target it changes, checked against the base: every module the config selects
    /// must have its A and B with the base's shapes, and every pair must land on a linear layer of the base.
    /// </summary>
    public IReadOnlyDictionary<LoraTarget, LoraPair> Match(IReadOnlyCollection<LoraTarget> targets, float scaleMultiplier = 1f)
    {
        string where = Path.Combine(Directory, WeightsFile);
        var result = new Dictionary<LoraTarget, LoraPair>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        float scale = (float)(Config.Scale * scaleMultiplier);
        foreach (var target in targets)
        {
            string module = target.Module;
            bool selected = Config.Targets(module);
            bool present = _modules.TryGetValue(module, out var pair);
            if (selected != present)
                throw new CheckpointException(present
                    ? $"{where}: module '{module}' has LoRA tensors but {LoraConfig.FileName}'s target_modules/layers_to_transform do not select it."
                    : $"{where}: {LoraConfig.FileName} selects module '{module}' of the base model but the adapter has no '{Prefix}{module}{ASuffix}'.");
            if (!present)
                continue;
            used.Add(module);
            if (Config.FanInFanOut && !target.Weight.StoredInputMajor)
                throw new CheckpointException($"{Config.Path}: 'fan_in_fan_out' is true but the base stores '{target.Weight.Tensor}' as [out, in] (an nn.Linear).");
            var (a, b) = (pair.A!, pair.B!);
            int rank = (int)a.Shape[0];
            if (rank != Config.Rank || a.Shape[1] != target.InFeatures)
                throw new CheckpointException($"{where}: '{a.Name}' is {a.ShapeText} but r = {Config.Rank} and the base's '{target.Weight.Tensor}' has {target.InFeatures} inputs: [{Config.Rank}, {target.InFeatures}] was expected.");
            if (b.Shape[0] != target.StoredOutputs || b.Shape[1] != rank)
                throw new CheckpointException($"{where}: '{b.Name}' is {b.ShapeText} but the base's '{target.Weight.Tensor}' has {target.StoredOutputs} outputs: [{target.StoredOutputs}, {rank}] was expected.");
            var aValues = Read(a, 0, rank * target.InFeatures);
            var bValues = Read(b, (long)target.OutputStart * rank, target.OutFeatures * rank);
            result[target] = new LoraPair(module, rank, target.InFeatures, target.OutFeatures, aValues, bValues, scale);
        }
        var unused = _modules.Keys.Where(m => !used.Contains(m)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
            throw new CheckpointException($"{where}: {unused.Count} adapted module(s) are not linear layers of the base model: " +
                string.Join(", ", unused.Take(4).Select(m => $"'{m}'")) + (unused.Count > 4 ? ", …" : "") +
                " (an adapter for another architecture, or on embeddings or modules this family does not map?).");
        return result;
    }

    private float[] Read(TensorInfo tensor, long startElement, int count)
    {
        int size = tensor.DType.SizeInBytes();
        var bytes = new ReadOnlySpan<byte>(_file.Pointer(tensor) + startElement * size, count * size);
        var values = new float[count];
        FloatConversion.ToSingle(bytes, tensor.DType, values);
        // One NaN in A or B spreads to every output of the layer, merged or applied at run time: refuse it here,
        // naming the tensor, as the base checkpoint's weights are (there is no --allow-nonfinite for adapters).
        if (FloatConversion.IndexOfNonFinite(values) is var bad and >= 0)
            throw new CheckpointException(
                $"{Path.Combine(Directory, WeightsFile)}: tensor '{tensor.Name}' holds {(float.IsNaN(values[bad]) ? "NaN" : values[bad] > 0 ? "+Inf" : "-Inf")} " +
                $"at element {startElement + bad}; the adapter is corrupt (NaN or infinity). Re-download or re-train it.");
        return values;
    }

    public void Dispose() => _file.Dispose();
}
