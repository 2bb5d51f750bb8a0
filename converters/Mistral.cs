using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>Mistral: Llama's layout plus sliding-window attention.</summary>
public sealed class Mistral : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["MistralForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        LlamaStyle.Describe(config, generation, "mistral") with { SlidingWindow = config.Int("sliding_window", null, 1, int.MaxValue) };

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) => LlamaStyle.Weights(model);
}
