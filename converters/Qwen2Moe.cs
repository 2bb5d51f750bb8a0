using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen2's attention (biases on q, k, v) and, in the sparse layers, a
/// mixture of SwiGLU experts of width <c>moe_intermediate_size</c> whose softmax top-k weights are renormalised only
/// with <c>norm_topk_prob</c>, plus a shared expert (width <c>shared_expert_intermediate_size</c>) scaled by
/// sigmoid(<c>mlp.shared_expert_gate</c>·x) (transformers 4.46 <c>Qwen2MoeSparseMoeBlock</c>); which layers are
/// sparse: <see cref="QwenExperts"/>.
/// </summary>
public sealed class Qwen2Moe : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["Qwen2MoeForCausalLM"];

    // genai's model.type: "qwen2" (0.18 has no Qwen2-MoE type), whose runtime state is this graph's.
    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        QwenExperts.Describe(config, LlamaStyle.Describe(config, generation, "qwen2") with
        {
            SlidingWindow = config.Bool("use_sliding_window", false) ? config.Int("sliding_window", null, 1, int.MaxValue) : null,
        }, sharedExpert: true, (60, 4, 1408, 5632));

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) =>
        QwenExperts.Map(model, LlamaStyle.Weights(model, qkvBias: true));
}
