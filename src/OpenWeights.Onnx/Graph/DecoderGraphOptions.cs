namespace OpenWeights.Onnx.Graph;

/// <summary>Choices about the graph's form that do not change what the model computes.</summary>
public sealed record DecoderGraphOptions
{
    /// <summary>Which prompt positions get logits (see <see cref="DecoderIo"/>).</summary>
    public LogitsScope Logits { get; init; } = LogitsScope.All;
}
