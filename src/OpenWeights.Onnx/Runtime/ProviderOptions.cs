using System.Globalization;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// <see cref="GpuOptions"/> translated into the key/value options ONNX Runtime's CUDA and TensorRT providers
/// take (the keys are the providers' own; see onnxruntime's cuda/tensorrt provider options).
/// </summary>
public static class ProviderOptions
{
    public const string CudaProvider = "CUDAExecutionProvider";
    public const string TensorRtProvider = "TensorrtExecutionProvider";

    public static Dictionary<string, string> Cuda(GpuOptions gpu)
    {
        var options = new Dictionary<string, string>
        {
            ["device_id"] = Int(gpu.DeviceId),
            ["use_tf32"] = Flag(gpu.Tf32),
            ["enable_cuda_graph"] = Flag(gpu.CudaGraph),
            ["arena_extend_strategy"] = gpu.ArenaGrowsByRequest ? "kSameAsRequested" : "kNextPowerOfTwo",
            // Copies on the compute stream keep the order of copy → kernel without extra synchronisation.
            ["do_copy_in_default_stream"] = "1",
        };
        if (gpu.MemoryLimitBytes is { } limit)
            options["gpu_mem_limit"] = limit.ToString(CultureInfo.InvariantCulture);
        return options;
    }

    public static Dictionary<string, string> TensorRt(GpuOptions gpu, TensorRtProfiles profiles)
    {
        var options = new Dictionary<string, string>
        {
            ["device_id"] = Int(gpu.DeviceId),
            ["trt_fp16_enable"] = Flag(gpu.TensorRtFp16),
            ["trt_cuda_graph_enable"] = Flag(gpu.CudaGraph),
            ["trt_profile_min_shapes"] = profiles.Min,
            ["trt_profile_opt_shapes"] = profiles.Opt,
            ["trt_profile_max_shapes"] = profiles.Max,
        };
        if (gpu.TensorRtCacheDirectory is { } cache)
        {
            string folder = Path.GetFullPath(cache);
            options["trt_engine_cache_enable"] = "1";
            options["trt_engine_cache_path"] = folder;
            options["trt_timing_cache_enable"] = "1";
            options["trt_timing_cache_path"] = folder;
        }
        return options;
    }

    private static string Flag(bool value) => value ? "1" : "0";
    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);
}
