using Cocona;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>CUDA/TensorRT options shared by every command that runs a model (ignored with --ep cpu).</summary>
public sealed record DeviceParameters(
    [Option("device-id", Description = "CUDA device ordinal")] int DeviceId = 0,
    [Option("cuda-graph", Description = "Capture the decode step as a CUDA graph and replay it")] bool CudaGraph = false,
    [Option(Description = "Allow TF32 for float32 MatMuls (faster, not bit-comparable with the CPU)")] bool Tf32 = false,
    [Option("gpu-mem-limit", Description = "Cap ONNX Runtime's CUDA memory arena at this many MiB")] long? GpuMemLimit = null,
    [Option("trt-cache", Description = "TensorRT: folder for built engines and the timing cache (default: none, rebuilt every load)")] string? TrtCache = null,
    [Option("trt-fp16", Description = "TensorRT: allow fp16 kernels for float32 layers")] bool TrtFp16 = false) : ICommandParameterSet
{
    public GpuOptions ToGpuOptions() => new()
    {
        DeviceId = DeviceId,
        CudaGraph = CudaGraph,
        Tf32 = Tf32,
        MemoryLimitBytes = GpuMemLimit is { } mib
            ? mib > 0 ? mib * 1024 * 1024 : throw new ArgumentException($"--gpu-mem-limit {mib} must be a positive number of MiB.")
            : null,
        TensorRtCacheDirectory = TrtCache,
        TensorRtFp16 = TrtFp16,
    };
}
