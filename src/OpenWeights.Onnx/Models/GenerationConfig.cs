using System.Text.Json;
using System.Text.Json.Nodes;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Models;

/// <summary>The generation defaults a checkpoint ships in <c>generation_config.json</c> (optional file).</summary>
public sealed record GenerationConfig
{
    public int[] BosTokenIds { get; init; } = [];
    public int[] EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    public bool DoSample { get; init; }
    public double Temperature { get; init; } = 1.0;
    public int TopK { get; init; } = 50;
    public double TopP { get; init; } = 1.0;
    public double RepetitionPenalty { get; init; } = 1.0;
    public int? MaxLength { get; init; }

    public static GenerationConfig Load(string path)
    {
        if (!File.Exists(path))
            return new GenerationConfig();
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new CheckpointException($"{path}: must be a JSON object.");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON ({e.Message}).", e);
        }
        var pad = HfConfig.ParseIds(root["pad_token_id"], path, "pad_token_id");
        return new GenerationConfig
        {
            BosTokenIds = HfConfig.ParseIds(root["bos_token_id"], path, "bos_token_id"),
            EosTokenIds = HfConfig.ParseIds(root["eos_token_id"], path, "eos_token_id"),
            PadTokenId = pad.Length > 0 ? pad[0] : null,
            DoSample = root["do_sample"]?.GetValue<bool>() ?? false,
            Temperature = root["temperature"]?.GetValue<double>() ?? 1.0,
            TopK = root["top_k"]?.GetValue<int>() ?? 50,
            TopP = root["top_p"]?.GetValue<double>() ?? 1.0,
            RepetitionPenalty = root["repetition_penalty"]?.GetValue<double>() ?? 1.0,
            MaxLength = root["max_length"]?.GetValue<int>(),
        };
    }
}
