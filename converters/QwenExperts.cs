using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// What Qwen2-MoE and Qwen3-MoE share: the config fields of their sparse MLP (<c>num_experts</c>,
/// <c>num_experts_per_tok</c>, <c>norm_topk_prob</c>, <c>moe_intermediate_size</c>, <c>decoder_sparse_step</c>,
/// <c>mlp_only_layers</c>) and its tensors (<c>mlp.gate</c>, <c>mlp.experts.{e}.gate_proj/up_proj/down_proj</c>, and
/// for Qwen2-MoE <c>mlp.shared_expert.*</c> with <c>mlp.shared_expert_gate</c>). Layer i is sparse when it is not in
/// <c>mlp_only_layers</c> and (i + 1) is a multiple of <c>decoder_sparse_step</c>; the others keep the dense MLP of
/// width <c>intermediate_size</c>.
/// </summary>
internal static class QwenExperts
{
    /// <param name="defaults">The config class's defaults for a field a checkpoint leaves out.</param>
    public static ModelDescription Describe(HfConfig config, ModelDescription model, bool sharedExpert,
        (int Experts, int PerToken, int Width, int? SharedWidth) defaults)
    {
        int experts = config.Int("num_experts", defaults.Experts, 1, int.MaxValue)!.Value;
        int perToken = config.Int("num_experts_per_tok", defaults.PerToken, 1, int.MaxValue)!.Value;
        if (perToken > experts)
            throw config.Invalid("num_experts_per_tok", $"({perToken}) exceeds num_experts ({experts})");
        int layers = model.NumLayers;
        int step = config.Int("decoder_sparse_step", 1, 1, int.MaxValue)!.Value;
        var denseOnly = config.Ids("mlp_only_layers");
        foreach (int layer in denseOnly)
            if (layer < 0 || layer >= layers)
                throw config.Invalid("mlp_only_layers", $"names layer {layer}; the model has layers 0..{layers - 1}");
        return model with
        {
            Experts = new MixtureOfExperts(experts, perToken, config.Bool("norm_topk_prob", false),
                config.Int("moe_intermediate_size", defaults.Width, 1, int.MaxValue)!.Value,
                sharedExpert ? config.Int("shared_expert_intermediate_size", defaults.SharedWidth, 1, int.MaxValue)!.Value : null),
            SparseLayers = Enumerable.Range(0, layers).Where(i => !denseOnly.Contains(i) && (i + 1) % step == 0).ToArray(),
        };
    }

    public static DecoderWeights Map(ModelDescription model, DecoderWeights dense)
    {
        var moe = model.Experts!;
        return dense with
        {
            Layers = dense.Layers.Select((layer, i) =>
            {
                if (!model.IsSparse(i))
                    return layer;
                string p = $"model.layers.{i}.mlp";
                LinearWeights Linear(string w) => new(new WeightRef($"{p}.{w}.weight"));
                ExpertWeights Experts(string w) => new(Enumerable.Range(0, moe.Count).Select(e => Linear($"experts.{e}.{w}")).ToArray());
                return layer with
                {
                    Gate = null, Up = null, Down = null,
                    Experts = new MoeWeights(Linear("gate"), Experts("gate_proj"), Experts("up_proj"), Experts("down_proj"))
                    {
                        Shared = moe.SharedIntermediateSize is null ? null
                            : new SharedExpertWeights(Linear("shared_expert.gate_proj"), Linear("shared_expert.up_proj"),
                                Linear("shared_expert.down_proj"), Linear("shared_expert_gate")),
                    },
                };
            }).ToArray(),
        };
    }
}
