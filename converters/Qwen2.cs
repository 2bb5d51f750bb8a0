using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>Qwen2/2.5: Llama's layout with biases on q, k and v; sliding window only when switched on.</summary>
public sealed class Qwen2 : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["Qwen2ForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        LlamaStyle.Describe(config, generation, "qwen2") with
        {
            SlidingWindow = config.Bool("use_sliding_window", false) ? config.Int("sliding_window", null, 1, int.MaxValue) : null,
        };

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) => LlamaStyle.Weights(model, qkvBias: true);
}
