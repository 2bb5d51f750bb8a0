namespace OpenWeights.Onnx.Weights;

/// <summary>Running totals of a conversion, reported after each initializer is written.</summary>
public sealed class ConversionProgress
{
    public int Tensors { get; set; }
    public long Parameters { get; set; }
    public long Bytes { get; set; }
    /// <summary>Checkpoint weights read so far and in all, in elements: the honest measure of how far along we are.</summary>
    public long ElementsRead { get; set; }
    public long ExpectedElements { get; set; }

    public double Fraction => ExpectedElements == 0 ? 0 : Math.Min(1.0, (double)ElementsRead / ExpectedElements);
}
