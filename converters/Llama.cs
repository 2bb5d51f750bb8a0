using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>Llama 2/3.x: RMSNorm, SiLU-gated MLP, GQA with RoPE (default, linear, llama3 or yarn scaling).</summary>
public sealed class Llama : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["LlamaForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation) =>
        LlamaStyle.Describe(config, generation, "llama");

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) =>
        LlamaStyle.Weights(model,
            qkvBias: config.Bool("attention_bias", false),
            outputBias: config.Bool("attention_bias", false),
            mlpBias: config.Bool("mlp_bias", false));
}
