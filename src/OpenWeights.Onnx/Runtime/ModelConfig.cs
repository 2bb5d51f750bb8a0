using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// A converted model folder's <c>genai_config.json</c>: the same file onnxruntime-genai reads, so a model
/// converted by either tool describes itself the same way to our runtime.
/// </summary>
public sealed record ModelConfig
{
    public required string Directory { get; init; }
    public required string ModelType { get; init; }
    public required string ModelFile { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public required int NumLayers { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadSize { get; init; }
    public required int BosTokenId { get; init; }
    public required int[] EosTokenIds { get; init; }
    public required int PadTokenId { get; init; }
    /// <summary>
    /// LongRoPE models switch from short to long rotary factors once a sequence exceeds this length; keys
    /// cached before the switch must then be recomputed (owonnx.rope_switch_length in model.onnx metadata).
    /// </summary>
    public int? RopeSwitchLength { get; init; }
    // Names as genai_config.json gives them (a folder built by onnxruntime-genai's builder may differ from ours).
    public string InputIdsName { get; init; } = DecoderIo.InputIds;
    public string AttentionMaskName { get; init; } = DecoderIo.AttentionMask;
    public string LogitsName { get; init; } = DecoderIo.Logits;
    public string PastKeyFormat { get; init; } = DecoderIo.PastKeyFormat;
    public string PastValueFormat { get; init; } = DecoderIo.PastValueFormat;
    public string PresentKeyFormat { get; init; } = DecoderIo.PresentKeyFormat;
    public string PresentValueFormat { get; init; } = DecoderIo.PresentValueFormat;
    /// <summary>KV element type and logits scope, read from the graph once a session is loaded.</summary>
    public DecoderIo Io { get; init; } = new();

    public string PastKey(int layer) => DecoderIo.ForLayer(PastKeyFormat, layer);
    public string PastValue(int layer) => DecoderIo.ForLayer(PastValueFormat, layer);
    public string PresentKey(int layer) => DecoderIo.ForLayer(PresentKeyFormat, layer);
    public string PresentValue(int layer) => DecoderIo.ForLayer(PresentValueFormat, layer);

    public static ModelConfig Load(string directory)
    {
        string path = Path.Combine(directory, "genai_config.json");
        if (!System.IO.Directory.Exists(directory))
            throw new ModelLoadException($"{directory}: model folder not found.");
        if (!File.Exists(path))
            throw new ModelLoadException($"{directory}: not a converted model folder (genai_config.json not found); convert a checkpoint with 'owonnx convert' first.");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelLoadException($"{path}: not valid JSON ({e.Message}).", e); }

        var model = root?["model"] as JsonObject ?? throw new ModelLoadException($"{path}: missing object 'model'.");
        var decoder = model["decoder"] as JsonObject ?? throw new ModelLoadException($"{path}: missing object 'model.decoder'.");
        int Int(JsonObject o, string field, string where) =>
            o[field]?.GetValue<int>() ?? throw new ModelLoadException($"{path}: missing integer '{where}.{field}'.");
        int[] eos = model["eos_token_id"] switch
        {
            JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
            JsonValue v => [v.GetValue<int>()],
            _ => throw new ModelLoadException($"{path}: missing 'model.eos_token_id'."),
        };
        var inputs = decoder["inputs"] as JsonObject;
        var outputs = decoder["outputs"] as JsonObject;
        var config = new ModelConfig
        {
            Directory = directory,
            ModelType = model["type"]?.GetValue<string>() ?? throw new ModelLoadException($"{path}: missing 'model.type'."),
            ModelFile = decoder["filename"]?.GetValue<string>() ?? throw new ModelLoadException($"{path}: missing 'model.decoder.filename'."),
            VocabSize = Int(model, "vocab_size", "model"),
            ContextLength = Int(model, "context_length", "model"),
            NumLayers = Int(decoder, "num_hidden_layers", "model.decoder"),
            NumKvHeads = Int(decoder, "num_key_value_heads", "model.decoder"),
            HeadSize = Int(decoder, "head_size", "model.decoder"),
            BosTokenId = model["bos_token_id"]?.GetValue<int>() ?? -1,
            EosTokenIds = eos,
            PadTokenId = model["pad_token_id"]?.GetValue<int>() ?? eos[0],
            InputIdsName = inputs?["input_ids"]?.GetValue<string>() ?? DecoderIo.InputIds,
            AttentionMaskName = inputs?["attention_mask"]?.GetValue<string>() ?? DecoderIo.AttentionMask,
            LogitsName = outputs?["logits"]?.GetValue<string>() ?? DecoderIo.Logits,
            PastKeyFormat = inputs?["past_key_names"]?.GetValue<string>() ?? DecoderIo.PastKeyFormat,
            PastValueFormat = inputs?["past_value_names"]?.GetValue<string>() ?? DecoderIo.PastValueFormat,
            PresentKeyFormat = outputs?["present_key_names"]?.GetValue<string>() ?? DecoderIo.PresentKeyFormat,
            PresentValueFormat = outputs?["present_value_names"]?.GetValue<string>() ?? DecoderIo.PresentValueFormat,
        };
        if (!File.Exists(Path.Combine(directory, config.ModelFile)))
            throw new ModelLoadException($"{directory}: {config.ModelFile} (named by genai_config.json) not found.");
        return config;
    }
}

/// <summary>A model folder that cannot be loaded or run as asked; the message says which file or setting.</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);
