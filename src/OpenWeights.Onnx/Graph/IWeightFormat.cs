using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// How weights are stored and multiplied: float MatMul, or block-quantized MatMulNBits. The decoder
/// graph is written once against this interface, so precision is a choice, not a fork of the builder.
/// </summary>
public interface IWeightFormat
{
    /// <summary>input [.., in] × W [out, in]ᵀ (+ bias) → [.., out].</summary>
    string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures);

    /// <summary>Rows of the token table [vocab, hidden] selected by <paramref name="ids"/>.</summary>
    string Embed(string ids, WeightRef table, string name, int vocab, int hidden);

    /// <summary>The LM head when it shares the token table written by <see cref="Embed"/>.</summary>
    string TiedHead(string input, string name, int vocab, int hidden);
}
