namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// Settings of the CUDA and TensorRT execution providers. Defaults favour exact results and predictable
/// memory: TF32 off (it changes float32 MatMul results), CUDA graphs off (they fix every bound address and
/// shape, which the caller must opt into), the arena growing by what is asked rather than doubling.
/// </summary>
public sealed record GpuOptions
{
    /// <summary>CUDA device ordinal.</summary>
    public int DeviceId { get; init; }
    /// <summary>Let float32 MatMuls use TF32 tensor cores (faster, ~1e-3 relative error). Off by default.</summary>
    public bool Tf32 { get; init; }
    /// <summary>Capture the decode step as a CUDA graph and replay it (prefill runs uncaptured).</summary>
    public bool CudaGraph { get; init; }
    /// <summary>Upper bound of the CUDA memory arena in bytes; null = no limit beyond the device's memory.</summary>
    public long? MemoryLimitBytes { get; init; }
    /// <summary>Grow the arena by what each request needs (true) or in powers of two (false: fewer, larger chunks).</summary>
    public bool ArenaGrowsByRequest { get; init; } = true;
    /// <summary>TensorRT: folder for built engines and the timing cache; null = build every load (can take minutes).</summary>
    public string? TensorRtCacheDirectory { get; init; }
    /// <summary>TensorRT: allow fp16 kernels for float32 layers.</summary>
    public bool TensorRtFp16 { get; init; }

    public void Validate()
    {
        if (DeviceId < 0)
            throw new ArgumentException($"--device-id {DeviceId} is out of range (use 0 or more).");
        if (MemoryLimitBytes is <= 0)
            throw new ArgumentException($"--gpu-mem-limit {MemoryLimitBytes} bytes is out of range (use a positive size).");
    }
}
