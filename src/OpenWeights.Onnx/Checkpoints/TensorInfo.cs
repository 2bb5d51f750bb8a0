namespace OpenWeights.Onnx.Checkpoints;

/// <summary>One tensor as a SafeTensors header declares it. <see cref="Offset"/> is relative to the file's start.</summary>
public sealed record TensorInfo(string Name, TensorDType DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
