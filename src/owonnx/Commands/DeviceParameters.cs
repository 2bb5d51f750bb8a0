using System.CommandLine;
using OpenWeights.Onnx.Cli.CommandLine;
using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Cli.Commands;

/// <summary>CUDA/TensorRT options shared by every command that runs a model (ignored with --ep cpu).</summary>
internal sealed class DeviceOptionSet
{
    private readonly Option<int> _deviceId = CliOptions.Int("--device-id", "CUDA device ordinal", 0, 0, 1023);
    private readonly Option<bool> _cudaGraph = CliOptions.Flag("--cuda-graph", "Capture the decode step as a CUDA graph (refused on cuda and tensorrt for now; the error says why)");
    private readonly Option<bool> _tf32 = CliOptions.Flag("--tf32", "Allow TF32 for float32 MatMuls (faster, not bit-comparable with the CPU)");
    private readonly Option<long?> _gpuMemLimit = CliOptions.OptionalLong("--gpu-mem-limit",
        "Cap ONNX Runtime's CUDA memory arena at this many MiB (default: no cap beyond the device's memory)", 1, long.MaxValue / (1024 * 1024));
    private readonly Option<string> _trtCache = CliOptions.Text("--trt-cache",
        "TensorRT: folder for built engines and the timing cache (default: none, rebuilt every load)");
    private readonly Option<bool> _trtFp16 = CliOptions.Flag("--trt-fp16", "TensorRT: allow fp16 kernels for float32 layers");

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _deviceId, _cudaGraph, _tf32, _gpuMemLimit, _trtCache, _trtFp16 })
            command.Options.Add(option);
    }

    public GpuOptions Read(ParseResult parse) => new()
    {
        DeviceId = parse.GetValue(_deviceId),
        CudaGraph = parse.GetValue(_cudaGraph),
        Tf32 = parse.GetValue(_tf32),
        MemoryLimitBytes = parse.GetValue(_gpuMemLimit) * 1024 * 1024,
        TensorRtCacheDirectory = parse.GetValue(_trtCache),
        TensorRtFp16 = parse.GetValue(_trtFp16),
    };
}
