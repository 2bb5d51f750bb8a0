using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Converters;

/// <summary>Every family this build converts. Adding one is a new file here and a line below.</summary>
public static class KnownFamilies
{
    public static ModelFamilies All { get; } = new([
        new Llama(), new Mistral(), new Qwen2(), new Qwen3(), new Phi3(), new Gemma(), new Gemma2(), new Gpt2(), new Mixtral(), new Qwen2Moe(), new Qwen3Moe(),
    ]);
}
