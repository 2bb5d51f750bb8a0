namespace OpenWeights.Onnx.Generation;

public enum FinishReason
{
    /// <summary>An EOS token or a stop string.</summary>
    Stop,
    /// <summary>Max new tokens reached.</summary>
    Length,
    Cancelled,
}
