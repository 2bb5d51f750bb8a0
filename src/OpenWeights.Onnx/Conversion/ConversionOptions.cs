namespace OpenWeights.Onnx.Conversion;

public enum Precision { Fp32, Fp16, Int8, Int4 }

/// <summary>What to produce. Validated before any work starts.</summary>
public sealed record ConversionOptions
{
    public Precision Precision { get; init; } = Precision.Fp32;
    public ExecutionTarget Target { get; init; } = ExecutionTarget.Cpu;
    /// <summary>Replace an existing output folder (atomically, only once the new one is complete).</summary>
    public bool Overwrite { get; init; }

    public void Validate()
    {
        if (Precision is Precision.Int8 or Precision.Int4)
            throw new ArgumentException($"precision {Precision.ToString().ToLowerInvariant()} is not available in this build yet; use fp32 or fp16.");
    }
}
