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

    /// <summary>
    /// The LM head, hidden → vocab: its own weights, or with <paramref name="untied"/> null the token table
    /// written by <see cref="Embed"/>. A method of its own because formats treat the head by its role (the
    /// quantized format gives it its own bit width).
    /// </summary>
    string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden);
}
