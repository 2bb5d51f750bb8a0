using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// A linear layer of the base model that an adapter may change: its weight as the checkpoint stores it (a fused
/// tensor's rows, for Phi-3's <c>qkv_proj</c>), the fused tensor's full output size, and its input size. PEFT names
/// adapter modules after the checkpoint's modules, so the module is the weight's tensor name without <c>.weight</c>.
/// </summary>
public sealed record LoraTarget(WeightRef Weight, int StoredOutputs, int InFeatures)
{
    public const string WeightSuffix = ".weight";

    public string Module => Weight.Tensor.EndsWith(WeightSuffix, StringComparison.Ordinal)
        ? Weight.Tensor[..^WeightSuffix.Length]
        : Weight.Tensor;

    public int OutputStart => Weight.OutputStart;
    public int OutFeatures => Weight.OutputCount ?? StoredOutputs - Weight.OutputStart;

    /// <summary>The decoder's linear layers with their sizes as the checkpoint stores them.</summary>
    public static IReadOnlyList<LoraTarget> For(DecoderWeights weights, Checkpoint checkpoint) =>
        Linears(weights).Select(l =>
        {
            var shape = checkpoint.Get(l.Weight.Tensor).Shape;
            if (shape.Length != 2)
                throw new CheckpointException($"{checkpoint.Directory}: tensor '{l.Weight.Tensor}' has {shape.Length} dimensions; a 2-D matrix was expected.");
            bool inputMajor = l.Weight.StoredInputMajor;
            return new LoraTarget(l.Weight, (int)shape[inputMajor ? 1 : 0], (int)shape[inputMajor ? 0 : 1]);
        }).ToList();

    /// <summary>Every linear layer of a decoder (attention, MLP, an untied LM head): what an adapter can reach.</summary>
    public static IEnumerable<LinearWeights> Linears(DecoderWeights weights) => weights.Groups<LinearWeights>();
}
