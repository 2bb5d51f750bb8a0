using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// What we hand ONNX Runtime's CUDA and TensorRT providers, key by key. The keys and values are the ones ONNX
/// Runtime 1.31 parses (onnxruntime/core/providers/cuda/cuda_execution_provider_info.cc: device_id, use_tf32,
/// enable_cuda_graph, arena_extend_strategy = kNextPowerOfTwo | kSameAsRequested, do_copy_in_default_stream,
/// gpu_mem_limit; booleans as "0"/"1"; an unknown key fails UpdateOptions. tensorrt_execution_provider_info.cc:
/// trt_fp16_enable, trt_cuda_graph_enable, trt_engine_cache_enable/_path, trt_timing_cache_enable/_path,
/// trt_profile_min/opt/max_shapes; tensorrt_execution_provider_utils.h ParseProfileShapes: "name:AxBxC" entries
/// joined by ',', every dimension of the input given). Nothing here loads a provider: that needs a GPU.
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
    public void TensorRtProfilesCoverWhatTheDecoderBindsAndLeaveOutWhatOnlyAttentionReads()
    {
        var config = Config();
        string[] inputs = ["input_ids", "attention_mask", config.PastKey(0), config.PastValue(0), config.PastKey(1), config.PastValue(1)];
        var profiles = TensorRtProfiles.For(inputs, config, maxBatch: 8, maxLength: 256);
        // ids [1..8, 1..256] tuned for one token per slot; the mask is always max_length wide (BatchDecoder binds it so).
        Assert.AreEqual("input_ids:1x1,attention_mask:1x256", profiles.Min);
        Assert.AreEqual("input_ids:8x1,attention_mask:8x256", profiles.Opt);
        Assert.AreEqual("input_ids:8x256,attention_mask:8x256", profiles.Max);
        // Each entry is what ParseProfileShapes splits: "name:dims" with 'x' between dimensions.
        foreach (string entry in profiles.Max.Split(','))
            StringAssert.Matches(entry, new System.Text.RegularExpressions.Regex(@"^[A-Za-z_][\w.]*:\d+(x\d+)*$"));
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
    public void CudaGraphsAreRefusedOnTheGpuProvidersWithTheReason()
    {
        foreach (var target in new[] { ExecutionTarget.Cuda, ExecutionTarget.TensorRt })
        {
            var options = new RuntimeOptions { ExecutionProvider = target, Gpu = new GpuOptions { CudaGraph = true } };
            var e = Assert.ThrowsExactly<ArgumentException>(options.Validate);
            StringAssert.Contains(e.Message, "--cuda-graph");
            StringAssert.Contains(e.Message, "total_sequence_length");
            StringAssert.Contains(e.Message, "pinned host memory");
        }
        // Like every GPU setting, ignored on the CPU.
        new RuntimeOptions { ExecutionProvider = ExecutionTarget.Cpu, Gpu = new GpuOptions { CudaGraph = true } }.Validate();
    }

    [TestMethod]
    public void DeviceAndPinnedMemoryNameTheSessionsGpu()
    {
        // ORT 1.31 looks a session's allocators up by OrtDevice, which for "CudaPinned" carries the GPU ordinal:
        // pinned memory info made for device 0 finds no allocator in a session on device 2.
        var (device, pinned) = BufferPlacement.CudaMemory(2);
        using (device)
        using (pinned)
        {
            Assert.AreEqual("Cuda", device.Name);
            Assert.AreEqual(2, device.Id);
            Assert.AreEqual("CudaPinned", pinned.Name);
            Assert.AreEqual(2, pinned.Id);
        }
    }

    [TestMethod]
    public void BadGpuSettingsAreRefused()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new RuntimeOptions { Gpu = new GpuOptions { DeviceId = -1 } }.Validate());
        Assert.ThrowsExactly<ArgumentException>(() => new RuntimeOptions { Gpu = new GpuOptions { MemoryLimitBytes = 0 } }.Validate());
    }
}
