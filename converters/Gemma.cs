using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Models;
using OpenWeights.Onnx.Checkpoints;

namespace OpenWeights.Onnx.Converters;

/// <summary>
/// Gemma: Llama's layout with RMSNorm weights stored as offsets from one (x̂·(1+w)), token embeddings scaled
/// by √hidden, a GeLU-gated MLP, an explicit head_dim and the head tied to the embeddings.
/// </summary>
public sealed class Gemma : IModelFamily
{
    public IReadOnlyList<string> Architectures => ["GemmaForCausalLM"];

    public ModelDescription Describe(HfConfig config, GenerationConfig generation) => Common(config, generation, "gemma");

    public DecoderWeights MapWeights(ModelDescription model, HfConfig config) =>
        LlamaStyle.Weights(model, qkvBias: config.Bool("attention_bias", false), outputBias: config.Bool("attention_bias", false));

    /// <summary>What Gemma and Gemma 2 describe alike.</summary>
    internal static ModelDescription Common(HfConfig config, GenerationConfig generation, string genAiType)
    {
        var model = LlamaStyle.Describe(config, generation, genAiType, activation: HiddenActivation(config));
        return model with
        {
            Norm = NormKind.RmsNormPlusOne,
            // transformers: hidden * torch.tensor(hidden_size ** 0.5, dtype=hidden.dtype).
            EmbeddingMultiplier = RoundToDType(Math.Sqrt(model.HiddenSize), config.String("torch_dtype")),
            TiedEmbeddings = config.Bool("tie_word_embeddings", true),
        };
    }

    /// <summary>
    /// transformers' Gemma MLPs use <c>hidden_activation</c>, defaulting to the tanh GeLU; <c>hidden_act</c>
    /// (often "gelu" in Gemma 1 configs) is not what they compute.
    /// </summary>
    private static Activation HiddenActivation(HfConfig c) => (c.String("hidden_activation") ?? "gelu_pytorch_tanh") switch
    {
        "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" => Activation.GeluTanh,
        "gelu" => Activation.Gelu,
        var other => throw c.Invalid("hidden_activation", $"is '{other}'; this family supports gelu_pytorch_tanh and gelu"),
    };

    /// <summary>A constant as transformers holds it in the model's dtype (bfloat16 rounds √2048 to 45.25).</summary>
    internal static float RoundToDType(double value, string? torchDtype)
    {
        float f = (float)value;
        switch (torchDtype)
        {
            case "bfloat16":
                uint bits = BitConverter.SingleToUInt32Bits(f);
                bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
                return BitConverter.UInt32BitsToSingle(bits);
            case "float16":
                return (float)(Half)f;
            default:
                return f;
        }
    }
}
