using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// How weights are stored and multiplied: float MatMul, or block-quantized MatMulNBits. The decoder
/// graph is written once against this interface, so precision is a choice, not a fork of the builder.
/// A new kind of weight (an expert stack) is a member here, implemented by every format, so a family that uses it
/// works in every precision. Behaviour around the products is a decorator instead: <see cref="LoraInputs"/> wraps a
/// format and adds run-time LoRA updates to chosen projections, whatever their precision.
/// </summary>
public interface IWeightFormat
{
    /// <summary>input [.., in] × W [out, in]ᵀ (+ bias) → [.., out].</summary>
    string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures);

    /// <summary>
    /// Several projections of one input as one product, as onnxruntime-genai's builder packs q/k/v and gate/up:
    /// input × [W₀; W₁; …]ᵀ (+ each part's bias, zeros where a part has none) → [.., Σ out], the parts' outputs side
    /// by side in order. One larger MatMulNBits/MatMul per layer instead of two or three: fewer nodes, the input
    /// read once, more work per thread.
    /// </summary>
    string PackedLinear(string input, IReadOnlyList<PackedPart> parts, string name, int inFeatures);

    /// <summary>Rows of the token table [vocab, hidden] selected by <paramref name="ids"/>.</summary>
    string Embed(string ids, WeightRef table, string name, int vocab, int hidden);

    /// <summary>
    /// The LM head, hidden → vocab: its own weights, or with <paramref name="untied"/> null the token table
    /// written by <see cref="Embed"/>. A method of its own because formats treat the head by its role (the
    /// quantized format gives it its own bit width).
    /// </summary>
    string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden);

    /// <summary>
    /// Extension point for mixture-of-experts MLPs: every expert's [out, in] matrix, in expert order, written as one
    /// stacked initializer for a MoE node (or a Gather by expert index) to consume, one expert in memory at a time.
    /// </summary>
    ExpertStack ExpertStack(ExpertWeights experts, string name, int outFeatures, int inFeatures);

    /// <summary>
    /// Two projections' expert stacks fused row by row, [E, 2·out, in] with rows gate₀, up₀, gate₁, up₁, …: the
    /// fc1 of ONNX Runtime's <c>MoE</c>/<c>QMoE</c> with <c>swiglu_fusion=1</c>. Written one expert at a time, as
    /// <see cref="ExpertStack"/>; the experts may not have biases.
    /// </summary>
    ExpertStack InterleavedExpertStack(ExpertWeights gate, ExpertWeights up, string name, int outFeatures, int inFeatures);
}

/// <summary>One projection of a packed product: its weights, its own name (adapter sites keep it), its output width.</summary>
public sealed record PackedPart(LinearWeights Weights, string Name, int OutFeatures);

/// <summary>
/// The initializers of an expert stack. Float: <see cref="Weights"/> [E, out, in] in the compute type
/// (<see cref="Bits"/> null). Block-quantized: each expert's bytes exactly those of a MatMulNBits B of its own, in
/// QMoE's shapes — <see cref="Weights"/> uint8 [E, out, k_blocks·blob], <see cref="Scales"/> [E, out, k_blocks] in
/// the compute type, <see cref="ZeroPoints"/> uint8 [E, out, ⌈k_blocks·bits/8⌉] when asymmetric, and the
/// <see cref="AccuracyLevel"/> the format gives its MatMulNBits. <see cref="Bias"/> [E, out] when the experts have biases.
/// </summary>
public sealed record ExpertStack(string Weights, string? Bias, int Experts, int? Bits = null, int? BlockSize = null,
    string? Scales = null, string? ZeroPoints = null, int AccuracyLevel = 0);
