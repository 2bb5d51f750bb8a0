namespace OpenWeights.Onnx.Runtime;

/// <summary>How a converted model is loaded and how much cache it gets.</summary>
public sealed record RuntimeOptions
{
    /// <summary>Default cache length: enough for real conversations without reserving a 128k context.</summary>
    public const int DefaultMaxLength = 2048;

    public ExecutionTarget ExecutionProvider { get; init; } = ExecutionTarget.Cpu;
    /// <summary>Tokens per sequence the KV cache holds (prompt + generated). Clamped to the model's context.</summary>
    public int? MaxLength { get; init; }
    /// <summary>Sequences decoded together in one Run.</summary>
    public int MaxBatch { get; init; } = 1;
    /// <summary>Intra-op threads; null = one per core.</summary>
    public int? Threads { get; init; }
    /// <summary>CUDA/TensorRT settings; ignored on the CPU.</summary>
    public GpuOptions Gpu { get; init; } = new();

    public int EffectiveMaxLength(ModelConfig config) => Math.Min(MaxLength ?? DefaultMaxLength, config.ContextLength);

    public void Validate()
    {
        if (MaxLength is < 2)
            throw new ArgumentException($"max length {MaxLength} must be at least 2.");
        if (MaxBatch < 1)
            throw new ArgumentException($"max batch {MaxBatch} must be at least 1.");
        if (Threads is < 1)
            throw new ArgumentException($"threads {Threads} must be at least 1.");
        Gpu.Validate();
    }
}
