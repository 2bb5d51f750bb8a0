using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// A change applied to a matrix weight as it is read for conversion, in float32 and before any quantization
/// (the weight reader calls it for every matrix it materialises).
/// </summary>
public interface IWeightDelta
{
    /// <summary>Adds this delta to <paramref name="values"/>, laid out [out, in] or (<paramref name="inputMajor"/>) [in, out].</summary>
    void AddTo(WeightRef weight, Span<float> values, bool inputMajor);
}
