using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>Qwen3: Llama's layout with per-head RMSNorm of q and k before rotary, and an explicit head_dim.</summary>
public sealed class Qwen3 : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["Qwen3ForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        LlamaStyle.Describe(config, generation, "qwen3") with
        {
            QkNorm = true,
            SlidingWindow = config.Bool("use_sliding_window", false) ? config.Int("sliding_window", null, 1, int.MaxValue) : null,
        };

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) =>
        LlamaStyle.Weights(model, qkvBias: config.Bool("attention_bias", false),
            outputBias: config.Bool("attention_bias", false), qkNorm: true);
}
