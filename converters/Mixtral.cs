using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Mixtral: Mistral's attention, and in every layer a mixture of SwiGLU experts (<c>block_sparse_moe</c>) in place
/// of the MLP: a softmax router whose top-k probabilities are renormalised to sum to one (transformers 4.46
/// <c>MixtralSparseMoeBlock</c>); expert e's <c>w1</c>, <c>w3</c>, <c>w2</c> are its gate, up and down projections.
/// </summary>
public sealed class Mixtral : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["MixtralForCausalLM"];

    // genai's model.type: "mistral", whose runtime state (GroupQueryAttention, past_key_values.{i}) is the same as
    // this graph's; onnxruntime-genai 0.18 has no "mixtral" type (GenAiInteropTests runs the folder).
    public ModelDescription Describe(HfConfig config, GenerationConfig generation)
    {
        int experts = config.Int("num_local_experts", 8, 1, int.MaxValue)!.Value;
        int perToken = config.Int("num_experts_per_tok", 2, 1, int.MaxValue)!.Value;
        if (perToken > experts)
            throw config.Invalid("num_experts_per_tok", $"({perToken}) exceeds num_local_experts ({experts})");
        return LlamaStyle.Describe(config, generation, "mistral") with
        {
            SlidingWindow = config.Int("sliding_window", null, 1, int.MaxValue),
            Experts = new MixtureOfExperts(experts, perToken, NormalizeTopK: true, config.Int("intermediate_size", 1, int.MaxValue)),
        };
    }

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config)
    {
        var dense = LlamaStyle.Weights(model);
        int count = model.Experts!.Count;
        return dense with
        {
            Layers = dense.Layers.Select((layer, i) =>
            {
                string p = $"model.layers.{i}.block_sparse_moe";
                ExpertWeights Experts(string w) => new(Enumerable.Range(0, count)
                    .Select(e => new LinearWeights(new WeightRef($"{p}.experts.{e}.{w}.weight"))).ToArray());
                return layer with
                {
                    Gate = null, Up = null, Down = null,
                    Experts = new MoeWeights(new LinearWeights(new WeightRef($"{p}.gate.weight")), Experts("w1"), Experts("w3"), Experts("w2")),
                };
            }).ToArray(),
        };
    }
}
