using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen2's attention (biases on q, k, v) and, in the sparse layers, a
/// mixture of SwiGLU experts (<c>mlp.experts.{e}.gate_proj/up_proj/down_proj</c>, width
/// <c>moe_intermediate_size</c>) whose softmax top-k weights are renormalised only with <c>norm_topk_prob</c>, plus a
/// shared expert (<c>mlp.shared_expert</c>, width <c>shared_expert_intermediate_size</c>) scaled by
/// sigmoid(<c>mlp.shared_expert_gate</c>·x) (transformers 4.46 <c>Qwen2MoeSparseMoeBlock</c>). Layer i is sparse when
/// it is not in <c>mlp_only_layers</c> and (i + 1) is a multiple of <c>decoder_sparse_step</c>; the others have a
/// dense MLP of width <c>intermediate_size</c>.
/// </summary>
public sealed class Qwen2Moe : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["Qwen2MoeForCausalLM"];

    // genai's model.type: "qwen2", whose runtime state (GroupQueryAttention, past_key_values.{i}) is this graph's.
    public ModelDescription Describe(HfConfig config, GenerationConfig generation)
    {
        int experts = config.Int("num_experts", 60, 1, int.MaxValue)!.Value;
        int perToken = config.Int("num_experts_per_tok", 4, 1, int.MaxValue)!.Value;
        if (perToken > experts)
            throw config.Invalid("num_experts_per_tok", $"({perToken}) exceeds num_experts ({experts})");
        var model = LlamaStyle.Describe(config, generation, "qwen2");
        int layers = model.NumLayers;
        int step = config.Int("decoder_sparse_step", 1, 1, int.MaxValue)!.Value;
        var denseOnly = config.Ids("mlp_only_layers");
        foreach (int layer in denseOnly)
            if (layer < 0 || layer >= layers)
                throw config.Invalid("mlp_only_layers", $"names layer {layer}; the model has layers 0..{layers - 1}");
        return model with
        {
            SlidingWindow = config.Bool("use_sliding_window", false) ? config.Int("sliding_window", null, 1, int.MaxValue) : null,
            Experts = new MixtureOfExperts(experts, perToken, config.Bool("norm_topk_prob", false),
                config.Int("moe_intermediate_size", 1408, 1, int.MaxValue)!.Value,
                config.Int("shared_expert_intermediate_size", 5632, 1, int.MaxValue)!.Value),
            SparseLayers = Enumerable.Range(0, layers).Where(i => !denseOnly.Contains(i) && (i + 1) % step == 0).ToArray(),
        };
    }

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config)
    {
        var dense = LlamaStyle.Weights(model, qkvBias: true);
        int count = model.Experts!.Count;
        return dense with
        {
            Layers = dense.Layers.Select((layer, i) =>
            {
                if (!model.IsSparse(i))
                    return layer;
                string p = $"model.layers.{i}.mlp";
                LinearWeights Linear(string w) => new(new WeightRef($"{p}.{w}.weight"));
                ExpertWeights Experts(string w) => new(Enumerable.Range(0, count).Select(e => Linear($"experts.{e}.{w}")).ToArray());
                return layer with
                {
                    Gate = null, Up = null, Down = null,
                    Experts = new MoeWeights(Linear("gate"), Experts("gate_proj"), Experts("up_proj"), Experts("down_proj"))
                    {
                        Shared = new SharedExpertWeights(Linear("shared_expert.gate_proj"), Linear("shared_expert.up_proj"),
                            Linear("shared_expert.down_proj"), Linear("shared_expert_gate")),
                    },
                };
            }).ToArray(),
        };
    }
}
