namespace OpenWeights.Onnx.Adapters;

/// <summary>
/// One adapted linear layer, as float32: <c>A</c> [rank, in] and <c>B</c> [out, rank] (only the rows of the target,
/// for a slice of a fused tensor), and the scale, so that the layer computes W·x + Scale·B·(A·x).
/// </summary>
public sealed record LoraPair(string Module, int Rank, int InFeatures, int OutFeatures, float[] A, float[] B, float Scale)
{
    /// <summary>Bytes of A and B as float32.</summary>
    public long Bytes => ((long)A.Length + B.Length) * sizeof(float);
}
