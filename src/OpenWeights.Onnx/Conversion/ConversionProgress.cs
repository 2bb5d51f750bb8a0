namespace OpenWeights.Onnx.Conversion;

/// <summary>Running totals of a conversion, reported after each initializer is written.</summary>
public sealed class ConversionProgress
{
    public int Tensors { get; set; }
    public long Parameters { get; set; }
    public long Bytes { get; set; }
    /// <summary>Total initializers the graph will have, when known.</summary>
    public int ExpectedTensors { get; set; }
}
