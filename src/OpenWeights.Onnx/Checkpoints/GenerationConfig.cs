using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenWeights.Onnx.Checkpoints;

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
        // The same typed, range-checked reads as config.json: errors name this file and the field.
        var c = new HfConfig(path, root);
        var pad = c.Ids("pad_token_id");
        double temperature = c.Double("temperature", 1.0)!.Value;
        if (temperature < 0)
            throw c.Invalid("temperature", $"is {temperature}; it must be at least 0");
        double topP = c.Double("top_p", 1.0)!.Value;
        if (!(topP > 0 && topP <= 1))
            throw c.Invalid("top_p", $"is {topP}; it must be in (0, 1]");
        return new GenerationConfig
        {
            BosTokenIds = c.Ids("bos_token_id"),
            EosTokenIds = c.Ids("eos_token_id"),
            PadTokenId = pad.Length > 0 ? pad[0] : null,
            DoSample = c.Bool("do_sample", false),
            Temperature = temperature,
            TopK = c.Int("top_k", 50, 0, int.MaxValue)!.Value,
            TopP = topP,
            RepetitionPenalty = c.Positive("repetition_penalty", 1.0)!.Value,
            MaxLength = c.Int("max_length", null, 1, int.MaxValue),
        };
    }
}
