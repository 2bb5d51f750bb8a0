using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// What we hand ONNX Runtime's CUDA and TensorRT providers, key by key (the keys and values are the providers'
/// documented ones: onnxruntime/core/providers/cuda/cuda_provider_options.cc, tensorrt_provider_options).
/// </summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class ProviderOptionsTests
{
    private static GenAiConfig Config(int layers = 2) => new()
    {
        Directory = "m", ModelType = "llama", ModelFile = "model.onnx", VocabSize = 32000, ContextLength = 4096,
        NumLayers = layers, NumKvHeads = 4, HeadSize = 64, BosTokenId = 1, EosTokenIds = [2], PadTokenId = 2,
    };

    [TestMethod]
    public void CudaDefaultsTurnTf32AndCudaGraphsOffOnDeviceZero()
    {
        var options = ProviderOptions.Cuda(new GpuOptions());
        CollectionAssert.AreEquivalent(new Dictionary<string, string>
        {
            ["device_id"] = "0",
            ["use_tf32"] = "0",
            ["enable_cuda_graph"] = "0",
            ["arena_extend_strategy"] = "kSameAsRequested",
            ["do_copy_in_default_stream"] = "1",
        }, options);
    }

    [TestMethod]
    public void CudaOptionsFollowTheSettings()
    {
        var options = ProviderOptions.Cuda(new GpuOptions
        {
            DeviceId = 3, Tf32 = true, CudaGraph = true, MemoryLimitBytes = 6L << 30, ArenaGrowsByRequest = false,
        });
        Assert.AreEqual("3", options["device_id"]);
        Assert.AreEqual("1", options["use_tf32"]);
        Assert.AreEqual("1", options["enable_cuda_graph"]);
        Assert.AreEqual("kNextPowerOfTwo", options["arena_extend_strategy"]);
        Assert.AreEqual("6442450944", options["gpu_mem_limit"]);
    }

    [TestMethod]
    public void TensorRtProfilesCoverWhatTheDecoderBinds()
    {
        var config = Config();
        string[] inputs = ["input_ids", "attention_mask", config.PastKey(0), config.PastValue(0), config.PastKey(1), config.PastValue(1)];
        var profiles = TensorRtProfiles.For(inputs, config, maxBatch: 8, maxLength: 256);
        string Past(int b) => string.Join(',', Enumerable.Range(0, 2).SelectMany(l => new[]
            { $"past_key_values.{l}.key:{b}x4x256x64", $"past_key_values.{l}.value:{b}x4x256x64" }));
        Assert.AreEqual("input_ids:1x1,attention_mask:1x256," + Past(1), profiles.Min);
        Assert.AreEqual("input_ids:8x1,attention_mask:8x256," + Past(8), profiles.Opt);
        Assert.AreEqual("input_ids:8x256,attention_mask:8x256," + Past(8), profiles.Max);
    }

    [TestMethod]
    public void AnInputWithoutAProfileRuleIsRefusedByName()
    {
        var e = Assert.ThrowsExactly<ModelLoadException>(() => TensorRtProfiles.For(["input_ids", "pixel_values"], Config(), 1, 16));
        StringAssert.Contains(e.Message, "'pixel_values'");
    }

    [TestMethod]
    public void TensorRtOptionsCacheEnginesInTheChosenFolderWithProfiles()
    {
        var profiles = new TensorRtProfiles("input_ids:1x1", "input_ids:4x1", "input_ids:4x64");
        var options = ProviderOptions.TensorRt(new GpuOptions { DeviceId = 1, TensorRtCacheDirectory = "trt-cache", TensorRtFp16 = true }, profiles);
        string folder = Path.GetFullPath("trt-cache");
        CollectionAssert.AreEquivalent(new Dictionary<string, string>
        {
            ["device_id"] = "1",
            ["trt_fp16_enable"] = "1",
            ["trt_cuda_graph_enable"] = "0",
            ["trt_profile_min_shapes"] = "input_ids:1x1",
            ["trt_profile_opt_shapes"] = "input_ids:4x1",
            ["trt_profile_max_shapes"] = "input_ids:4x64",
            ["trt_engine_cache_enable"] = "1",
            ["trt_engine_cache_path"] = folder,
            ["trt_timing_cache_enable"] = "1",
            ["trt_timing_cache_path"] = folder,
        }, options);

        var uncached = ProviderOptions.TensorRt(new GpuOptions(), profiles);
        Assert.IsFalse(uncached.ContainsKey("trt_engine_cache_enable"));
        Assert.AreEqual("0", uncached["trt_fp16_enable"]);
    }

    [TestMethod]
    public void BadGpuSettingsAreRefused()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new RuntimeOptions { Gpu = new GpuOptions { DeviceId = -1 } }.Validate());
        Assert.ThrowsExactly<ArgumentException>(() => new RuntimeOptions { Gpu = new GpuOptions { MemoryLimitBytes = 0 } }.Validate());
    }
}
