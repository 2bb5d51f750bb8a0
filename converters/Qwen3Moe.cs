using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): Qwen3's attention (per-head q/k RMSNorm, explicit head_dim) and
/// Qwen2-MoE's sparse MLP without the shared expert (transformers' <c>Qwen3MoeSparseMoeBlock</c>); released models
/// set <c>norm_topk_prob</c>. Which layers are sparse: <see cref="QwenExperts"/>.
/// </summary>
public sealed class Qwen3Moe : IModelFamily
{
    private readonly Qwen3 _attention = new();

    public IReadOnlyList<string> Architectures => ["Qwen3MoeForCausalLM"];

    // genai's model.type: "qwen3" (0.18 has no Qwen3-MoE type), whose runtime state is this graph's.
    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        QwenExperts.Describe(config, _attention.Describe(config, generation), sharedExpert: false, (128, 8, 768, null));

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) =>
        QwenExperts.Map(model, _attention.MapWeights(model, config));
}
