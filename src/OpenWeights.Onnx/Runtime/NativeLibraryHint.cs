using System.Text.RegularExpressions;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// Turns the loader error ONNX Runtime reports when a GPU provider cannot start (the provider library found,
/// one of its CUDA/cuDNN/TensorRT dependencies not) into a sentence naming the library and what provides it.
/// </summary>
public static partial class NativeLibraryHint
{
    // dlopen's own wording, which ORT passes through: "…with error: libcublasLt.so.13: cannot open shared object file".
    [GeneratedRegex(@"(?<lib>lib[A-Za-z0-9_+\-]+\.so(?:\.[0-9]+)*): cannot open shared object file")]
    private static partial Regex MissingLibrary();

    /// <summary>The library the dynamic loader could not find, or null when the message is about something else.</summary>
    public static string? MissingLibraryName(string ortMessage) =>
        MissingLibrary().Match(ortMessage) is { Success: true } m ? m.Groups["lib"].Value : null;

    /// <summary>What to install for a missing library (by its soname), or null when it is not one we know.</summary>
    public static string? WhatProvides(string library)
    {
        string name = library.Split(".so")[0];
        return name switch
        {
            "libcudart" => "the CUDA 13 runtime (cuda-cudart-13, or the nvidia-cuda-runtime wheel)",
            "libcublas" or "libcublasLt" => "cuBLAS for CUDA 13 (libcublas-13, or the nvidia-cublas wheel)",
            "libcurand" => "cuRAND for CUDA 13 (libcurand-13, or the nvidia-curand wheel)",
            "libcufft" => "cuFFT for CUDA 13 (libcufft-13, or the nvidia-cufft wheel)",
            "libnvrtc" or "libnvrtc-builtins" => "NVRTC for CUDA 13 (cuda-nvrtc-13, or the nvidia-cuda-nvrtc wheel)",
            _ when name.StartsWith("libcudnn") => "cuDNN 9 for CUDA 13 (libcudnn9-cuda-13, or the nvidia-cudnn-cu13 wheel)",
            "libnvinfer" or "libnvinfer_plugin" or "libnvonnxparser" => "TensorRT 10 (libnvinfer10 and libnvonnxparsers10, or the tensorrt wheel)",
            "libcuda" => "the NVIDIA driver (libcuda.so.1 comes with it; no GPU driver is installed)",
            _ => null,
        };
    }

    /// <summary>
    /// One line for a provider that could not start: the missing library and what to install when the error
    /// says which, otherwise ORT's own message.
    /// </summary>
    public static string Explain(string provider, string ortMessage)
    {
        string? library = MissingLibraryName(ortMessage);
        if (library is null)
            return $"execution provider '{provider}' could not start on this machine: {ortMessage.Trim()}";
        string install = WhatProvides(library) is { } what ? $"install {what}" : "install the package that provides it";
        return $"execution provider '{provider}' could not start: {library} was not found by the dynamic loader; " +
               $"{install} and make sure its folder is on LD_LIBRARY_PATH (or registered with ldconfig).";
    }
}
