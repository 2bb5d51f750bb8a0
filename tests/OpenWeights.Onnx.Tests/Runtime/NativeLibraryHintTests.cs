using OpenWeights.Onnx.Runtime;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// The loader errors ONNX Runtime 1.31 (Gpu.Linux package) gives on a machine without CUDA, copied from real
/// runs of the GPU build here, become a sentence naming the library and what to install.
/// </summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class NativeLibraryHintTests
{
    private const string CudaOptionsError =
        "[ErrorCode:Fail] /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& " +
        "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library " +
        "/opt/owonnx/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory";

    private const string TensorRtError =
        "Failed to load library /opt/owonnx/libonnxruntime_providers_tensorrt.so with error: libnvinfer.so.10: cannot open shared object file: No such file or directory";

    [TestMethod]
    public void NamesTheLibraryTheLoaderCouldNotFind()
    {
        Assert.AreEqual("libcublasLt.so.13", NativeLibraryHint.MissingLibraryName(CudaOptionsError));
        Assert.AreEqual("libnvinfer.so.10", NativeLibraryHint.MissingLibraryName(TensorRtError));
        Assert.AreEqual("libcudnn_graph.so.9", NativeLibraryHint.MissingLibraryName("x: libcudnn_graph.so.9: cannot open shared object file"));
        Assert.IsNull(NativeLibraryHint.MissingLibraryName("[ErrorCode:Fail] CUDA failure 100: no CUDA-capable device is detected"));
    }

    [TestMethod]
    public void SaysWhatToInstall()
    {
        string cuda = NativeLibraryHint.Explain("cuda", CudaOptionsError);
        Assert.AreEqual(
            "execution provider 'cuda' could not start: libcublasLt.so.13 was not found by the dynamic loader; install cuBLAS " +
            "for CUDA 13 (libcublas-13, or the nvidia-cublas wheel) and make sure its folder is on LD_LIBRARY_PATH (or registered with ldconfig).",
            cuda);
        StringAssert.Contains(NativeLibraryHint.Explain("tensorrt", TensorRtError), "install TensorRT 10");
        StringAssert.Contains(NativeLibraryHint.Explain("cuda", "x: libcudart.so.13: cannot open shared object file"), "CUDA 13 runtime");
        StringAssert.Contains(NativeLibraryHint.Explain("cuda", "x: libcudnn.so.9: cannot open shared object file"), "cuDNN 9");
        StringAssert.Contains(NativeLibraryHint.Explain("cuda", "x: libcuda.so.1: cannot open shared object file"), "NVIDIA driver");
        StringAssert.Contains(NativeLibraryHint.Explain("cuda", "x: libfoo.so.3: cannot open shared object file"), "libfoo.so.3 was not found");
    }

    [TestMethod]
    public void AnyOtherFailureKeepsOrtsOwnMessage()
    {
        const string noDevice = "[ErrorCode:Fail] CUDA failure 100: no CUDA-capable device is detected";
        Assert.AreEqual($"execution provider 'cuda' could not start on this machine: {noDevice}", NativeLibraryHint.Explain("cuda", noDevice));
    }
}
