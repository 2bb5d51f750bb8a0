using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// A converted model folder's <c>genai_config.json</c>: the same file onnxruntime-genai reads, so a model
/// converted by either tool describes itself the same way to our runtime.
/// </summary>
public sealed record GenAiConfig
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

    public static GenAiConfig Load(string directory)
    {
        string path = Path.Combine(directory, "genai_config.json");
        if (!System.IO.Directory.Exists(directory))
            throw new ModelLoadException($"{directory}: model folder not found.");
        if (!File.Exists(path))
            throw new ModelLoadException($"{directory}: not a converted model folder (genai_config.json not found); convert a checkpoint with 'owonnx convert' first.");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelLoadException($"{path}: not valid JSON ({e.Message}).", e); }

        var model = (root as JsonObject)?["model"] as JsonObject ?? throw new ModelLoadException($"{path}: missing object 'model'.");
        var decoder = model["decoder"] as JsonObject ?? throw new ModelLoadException($"{path}: missing object 'model.decoder'.");
        var json = new ConfigReader(path);
        int vocab = json.Int(model, "model", "vocab_size", 1);
        int[] eos = json.Ids(model, "model", "eos_token_id", vocab);
        if (eos.Length == 0)
            throw new ModelLoadException($"{path}: 'model.eos_token_id' is missing or empty; generation needs an end-of-sequence id.");
        int? bos = json.OptionalId(model, "model", "bos_token_id", vocab);
        int? pad = json.OptionalId(model, "model", "pad_token_id", vocab);
        var inputs = json.OptionalObject(decoder, "model.decoder", "inputs");
        var outputs = json.OptionalObject(decoder, "model.decoder", "outputs");
        string Name(JsonObject? o, string where, string field, string fallback) =>
            o is null ? fallback : json.OptionalString(o, where, field) ?? fallback;
        string Names(JsonObject? o, string where, string field, string fallback)
        {
            string value = Name(o, where, field, fallback);
            if (value.Split("%d").Length != 2)
                throw new ModelLoadException($"{path}: '{where}.{field}' is '{value}'; it must contain '%d' exactly once (the layer number).");
            return value;
        }
        var config = new GenAiConfig
        {
            Directory = directory,
            ModelType = json.String(model, "model", "type"),
            ModelFile = json.String(decoder, "model.decoder", "filename"),
            VocabSize = vocab,
            ContextLength = json.Int(model, "model", "context_length", 1),
            NumLayers = json.Int(decoder, "model.decoder", "num_hidden_layers", 1),
            NumKvHeads = json.Int(decoder, "model.decoder", "num_key_value_heads", 1),
            HeadSize = json.Int(decoder, "model.decoder", "head_size", 1),
            BosTokenId = bos ?? -1,
            EosTokenIds = eos,
            PadTokenId = pad ?? eos[0],
            InputIdsName = Name(inputs, "model.decoder.inputs", "input_ids", DecoderIo.InputIds),
            AttentionMaskName = Name(inputs, "model.decoder.inputs", "attention_mask", DecoderIo.AttentionMask),
            LogitsName = Name(outputs, "model.decoder.outputs", "logits", DecoderIo.Logits),
            PastKeyFormat = Names(inputs, "model.decoder.inputs", "past_key_names", DecoderIo.PastKeyFormat),
            PastValueFormat = Names(inputs, "model.decoder.inputs", "past_value_names", DecoderIo.PastValueFormat),
            PresentKeyFormat = Names(outputs, "model.decoder.outputs", "present_key_names", DecoderIo.PresentKeyFormat),
            PresentValueFormat = Names(outputs, "model.decoder.outputs", "present_value_names", DecoderIo.PresentValueFormat),
        };
        if (Path.IsPathRooted(config.ModelFile) || config.ModelFile.Split('/', '\\').Any(p => p is ".." or ""))
            throw new ModelLoadException($"{path}: 'model.decoder.filename' is '{config.ModelFile}'; it must name a file inside the model folder.");
        if (!File.Exists(Path.Combine(directory, config.ModelFile)))
            throw new ModelLoadException($"{directory}: {config.ModelFile} (named by genai_config.json) not found.");
        return config;
    }

    /// <summary>
    /// The graph agrees with this config: one past key/value input per layer with [batch, kv heads, length, head size],
    /// no input for a layer beyond them, and logits over exactly the vocabulary. A hand-edited or mismatched
    /// genai_config.json would otherwise fail deep inside a Run, or silently read the wrong rows.
    /// </summary>
    public void CheckAgainst(IReadOnlyDictionary<string, int[]> inputShapes, IReadOnlyDictionary<string, int[]> outputShapes)
    {
        string file = Path.Combine(Directory, "genai_config.json");
        for (int layer = 0; layer < NumLayers; layer++)
            foreach (string name in new[] { PastKey(layer), PastValue(layer) })
            {
                if (!inputShapes.TryGetValue(name, out var dims))
                    throw new ModelLoadException($"{file}: num_hidden_layers is {NumLayers} but {ModelFile} has no input '{name}'.");
                if (dims.Length != 4 || (dims[1] > 0 && dims[1] != NumKvHeads) || (dims[3] > 0 && dims[3] != HeadSize))
                    throw new ModelLoadException(
                        $"{file}: {ModelFile} input '{name}' is [{string.Join(", ", dims)}] but num_key_value_heads {NumKvHeads} and head_size {HeadSize} need [batch, {NumKvHeads}, length, {HeadSize}].");
            }
        if (inputShapes.ContainsKey(PastKey(NumLayers)))
            throw new ModelLoadException($"{file}: num_hidden_layers is {NumLayers} but {ModelFile} has an input for layer {NumLayers} ('{PastKey(NumLayers)}').");
        if (outputShapes.TryGetValue(LogitsName, out var logits) && logits.Length > 0 && logits[^1] > 0 && logits[^1] != VocabSize)
            throw new ModelLoadException($"{file}: vocab_size is {VocabSize} but {ModelFile} produces {logits[^1]} logits per token.");
    }

    /// <summary>Typed reads of genai_config.json whose errors name the file and the field.</summary>
    private sealed class ConfigReader(string path)
    {
        private ModelLoadException Wrong(string where, string field, string expected, JsonNode? found) =>
            new($"{path}: '{where}.{field}' must be {expected}, found {found?.ToJsonString() ?? "nothing"}.");

        public int Int(JsonObject o, string where, string field, int min)
        {
            var node = o[field];
            if (node is JsonValue v && v.TryGetValue(out int value) && value >= min)
                return value;
            throw Wrong(where, field, $"an integer >= {min}", node);
        }

        public string String(JsonObject o, string where, string field) =>
            OptionalString(o, where, field) ?? throw Wrong(where, field, "a string", null);

        public string? OptionalString(JsonObject o, string where, string field) => o[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) && s.Length > 0 => s,
            var other => throw Wrong(where, field, "a non-empty string", other),
        };

        public JsonObject? OptionalObject(JsonObject o, string where, string field) => o[field] switch
        {
            null => null,
            JsonObject inner => inner,
            var other => throw Wrong(where, field, "an object", other),
        };

        public int[] Ids(JsonObject o, string where, string field, int vocab)
        {
            int Id(JsonNode? node) => node is JsonValue v && v.TryGetValue(out int id) && id >= 0 && id < vocab
                ? id
                : throw Wrong(where, field, $"token ids inside the vocabulary [0, {vocab})", node);
            return o[field] switch
            {
                null => [],
                JsonArray a => a.Select(Id).ToArray(),
                var single => [Id(single)],
            };
        }

        /// <summary>An optional id; −1 (as genai writes for "none") reads as absent.</summary>
        public int? OptionalId(JsonObject o, string where, string field, int vocab) => o[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out int id) && id == -1 => null,
            _ => Ids(o, where, field, vocab) is [var first, ..] ? first : null,
        };
    }
}

/// <summary>A model folder that cannot be loaded or run as asked; the message says which file or setting.</summary>
public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);
