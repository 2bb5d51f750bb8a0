using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Inspection;

/// <summary>What a Hugging Face checkpoint folder holds, without converting it.</summary>
public sealed record CheckpointSummary(
    string Directory,
    string Architecture,
    long Parameters,
    long Bytes,
    int TensorCount,
    IReadOnlyDictionary<TensorDType, int> TensorsByDType,
    IReadOnlyList<string> Shards,
    IReadOnlyDictionary<string, string> Config)
{
    private static readonly string[] ConfigFields =
    [
        "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "rope_theta",
        "rope_scaling", "tie_word_embeddings", "sliding_window", "torch_dtype",
    ];

    public static CheckpointSummary Read(string directory)
    {
        using var checkpoint = Checkpoint.Open(directory);
        var tensors = checkpoint.Tensors.ToList();
        var config = ConfigFields
            .Where(checkpoint.Config.Has)
            .ToDictionary(f => f, f => checkpoint.Config.Root[f]!.ToJsonString());
        return new CheckpointSummary(
            directory,
            checkpoint.Config.Architecture,
            tensors.Sum(t => t.ElementCount),
            tensors.Sum(t => t.Length),
            tensors.Count,
            tensors.GroupBy(t => t.DType).ToDictionary(g => g.Key, g => g.Count()),
            checkpoint.Files.Select(f => Path.GetFileName(f.Path)).ToList(),
            config);
    }
}
