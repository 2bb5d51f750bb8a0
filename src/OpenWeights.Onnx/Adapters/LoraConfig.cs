using System.Text.Json;
using System.Text.RegularExpressions;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// A PEFT <c>adapter_config.json</c> for plain LoRA, read as peft 0.13 reads it. Anything that would change what
/// the adapter computes and that owonnx does not implement (DoRA, trained biases, extra saved modules, per-module
/// ranks, other PEFT methods) is refused, naming the field: an adapter applied half-way is worse than none.
/// </summary>
public sealed record LoraConfig
{
    public const string FileName = "adapter_config.json";

    public required string Path { get; init; }
    public required int Rank { get; init; }
    public required double Alpha { get; init; }
    public bool UseRsLora { get; init; }
    /// <summary>Module names matched as PEFT does (exact, or a suffix after a dot); null when <see cref="TargetRegex"/> is used.</summary>
    public IReadOnlyList<string>? TargetModules { get; init; }
    /// <summary>A <c>target_modules</c> string: a regular expression the whole module name must match.</summary>
    public Regex? TargetRegex { get; init; }
    /// <summary>Null: every layer.</summary>
    public IReadOnlySet<int>? LayersToTransform { get; init; }
    public string? LayersPattern { get; init; }
    public bool FanInFanOut { get; init; }

    /// <summary>PEFT's scaling: α/r, or α/√r with rank-stabilised LoRA.</summary>
    public double Scale => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    private static readonly string[] DefaultLayerPatterns = ["layers", "h", "blocks", "layer"];

    /// <summary>Whether PEFT would put a LoRA layer on the module of this name (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public bool Targets(string module)
    {
        bool named = TargetRegex is { } regex
            ? regex.IsMatch(module)
            : TargetModules!.Any(t => t == "all-linear" ? !IsOutputLayer(module) : module == t || module.EndsWith("." + t, StringComparison.Ordinal));
        if (!named || LayersToTransform is null)
            return named;
        return LayerIndex(module) is { } layer && LayersToTransform.Contains(layer);
    }

    /// <summary>peft's "all-linear" leaves out the output layer.</summary>
    private static bool IsOutputLayer(string module) => module == "lm_head" || module.EndsWith(".lm_head", StringComparison.Ordinal);

    private int? LayerIndex(string module)
    {
        var patterns = LayersPattern is { } p ? [p] : DefaultLayerPatterns;
        foreach (var pattern in patterns)
        {
            var m = Regex.Match(module, $@"(?:^|\.){Regex.Escape(pattern)}\.(\d+)(?:\.|$)");
            if (m.Success)
                return int.Parse(m.Groups[1].Value);
        }
        return null;
    }

    public static LoraConfig Load(string adapterDirectory)
    {
        string path = System.IO.Path.Combine(adapterDirectory, FileName);
        if (!Directory.Exists(adapterDirectory))
            throw new CheckpointException($"{adapterDirectory}: adapter folder not found.");
        if (!File.Exists(path))
            throw new CheckpointException($"{adapterDirectory}: not a PEFT adapter folder ({FileName} not found).");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new CheckpointException($"{path}: not valid JSON ({e.Message}).", e); }
        using (doc)
            return Parse(path, doc.RootElement);
    }

    public static LoraConfig Parse(string path, JsonElement root)
    {
        CheckpointException Invalid(string field, string problem) => new($"{path}: '{field}' {problem}");
        bool Has(string field, out JsonElement value) =>
            root.TryGetProperty(field, out value) && value.ValueKind != JsonValueKind.Null;

        if (root.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{path}: expected a JSON object.");
        string peftType = Has("peft_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
        if (peftType != "LORA")
            throw Invalid("peft_type", $"is '{peftType}'; only LORA adapters are supported.");
        if (Has("use_dora", out var dora) && dora.ValueKind == JsonValueKind.True)
            throw Invalid("use_dora", "is true; DoRA adapters (weight-decomposed LoRA) are not supported.");
        if (Has("bias", out var bias) && !(bias.ValueKind == JsonValueKind.String && bias.GetString() == "none"))
            throw Invalid("bias", $"is {bias.GetRawText()}; only adapters with bias \"none\" (no trained biases) are supported.");
        if (Has("lora_bias", out var loraBias) && loraBias.ValueKind == JsonValueKind.True)
            throw Invalid("lora_bias", "is true; adapters with a trained lora_B bias are not supported.");
        if (Has("modules_to_save", out var save) && !(save.ValueKind == JsonValueKind.Array && save.GetArrayLength() == 0))
            throw Invalid("modules_to_save", $"is {save.GetRawText()}; adapters that replace whole modules are not supported.");
        foreach (var field in new[] { "rank_pattern", "alpha_pattern" })
            if (Has(field, out var pattern) && !(pattern.ValueKind == JsonValueKind.Object && !pattern.EnumerateObject().Any()))
                throw Invalid(field, $"is {pattern.GetRawText()}; per-module ranks or alphas are not supported.");
        if (Has("layer_replication", out var replication))
            throw Invalid("layer_replication", $"is {replication.GetRawText()}; layer replication is not supported.");

        int rank = Has("r", out var r) && r.TryGetInt32(out int rv) && rv > 0
            ? rv : throw Invalid("r", "must be a positive integer (the LoRA rank).");
        double alpha = Has("lora_alpha", out var a) && a.TryGetDouble(out double av)
            ? av : throw Invalid("lora_alpha", "must be a number.");
        bool rslora = Has("use_rslora", out var rs) && rs.ValueKind == JsonValueKind.True;
        bool fanInFanOut = Has("fan_in_fan_out", out var f) && f.ValueKind == JsonValueKind.True;

        if (!Has("target_modules", out var targets))
            throw Invalid("target_modules", "is missing; it names the modules the adapter changes.");
        IReadOnlyList<string>? names = null;
        Regex? regex = null;
        if (targets.ValueKind == JsonValueKind.String)
        {
            string text = targets.GetString()!;
            if (text == "all-linear")
                names = ["all-linear"];
            else
                try { regex = new Regex($"^(?:{text})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
                catch (ArgumentException e) { throw Invalid("target_modules", $"is not a valid regular expression ({e.Message})."); }
        }
        else if (targets.ValueKind == JsonValueKind.Array && targets.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            names = targets.EnumerateArray().Select(e => e.GetString()!).ToList();
        else
            throw Invalid("target_modules", "must be a list of module names or a regular expression string.");

        HashSet<int>? layers = null;
        if (Has("layers_to_transform", out var l))
        {
            if (l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out int single))
                layers = [single];
            else if (l.ValueKind == JsonValueKind.Array && l.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
                layers = l.EnumerateArray().Select(e => e.GetInt32()).ToHashSet();
            else
                throw Invalid("layers_to_transform", "must be a layer index or a list of layer indices.");
        }
        string? layersPattern = null;
        if (Has("layers_pattern", out var lp))
            layersPattern = lp.ValueKind switch
            {
                JsonValueKind.String => lp.GetString(),
                JsonValueKind.Array when lp.GetArrayLength() == 1 => lp[0].GetString(),
                _ => throw Invalid("layers_pattern", "must be one name (e.g. \"layers\")."),
            };

        return new LoraConfig
        {
            Path = path,
            Rank = rank,
            Alpha = alpha,
            UseRsLora = rslora,
            TargetModules = names,
            TargetRegex = regex,
            LayersToTransform = layers,
            LayersPattern = layersPattern,
            FanInFanOut = fanInFanOut,
        };
    }
}
