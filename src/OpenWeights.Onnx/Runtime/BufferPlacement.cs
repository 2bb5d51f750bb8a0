using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// Where a decoder's long-lived buffers live. On the CPU provider everything is ordinary host memory. On CUDA
/// (and TensorRT, which runs on CUDA memory) the KV cache is device memory from the session's CUDA allocator —
/// allocated once, so a step never copies the cache between host and device — and the small per-step inputs
/// (ids, mask) are page-locked host memory, which the provider copies to the device by DMA. Logits are always
/// bound to host memory: sampling reads them there.
/// </summary>
public sealed unsafe class BufferPlacement : IDisposable
{
    private readonly OrtAllocator? _device, _pinned;
    private readonly List<OrtMemoryAllocation> _allocations = [];
    private readonly List<nint> _hostBlocks = [];

    /// <summary>Memory info for the KV cache buffers.</summary>
    public OrtMemoryInfo CacheMemory { get; }
    /// <summary>Memory info for ids and mask.</summary>
    public OrtMemoryInfo InputMemory { get; }
    /// <summary>True when the cache lives on a GPU (the host cannot read or clear it).</summary>
    public bool CacheOnDevice => _device is not null;

    private readonly ExecutionTarget _target;
    private readonly GpuOptions _gpu;

    private BufferPlacement(OrtMemoryInfo cache, OrtMemoryInfo input, OrtAllocator? device, OrtAllocator? pinned,
        ExecutionTarget target, GpuOptions gpu, bool copiesThroughProvider)
    {
        CacheMemory = cache;
        InputMemory = input;
        _device = device;
        _pinned = pinned;
        _target = target;
        _gpu = gpu;
        CopiesThroughProvider = copiesThroughProvider;
    }

    public static BufferPlacement Host() => new(OrtMemoryInfo.DefaultInstance, OrtMemoryInfo.DefaultInstance, null, null,
        ExecutionTarget.Cpu, new GpuOptions(), copiesThroughProvider: false);

    /// <summary>
    /// Host memory whose cache copies nevertheless go through a <see cref="ProviderCopier"/> (on the CPU provider):
    /// the path device memory takes, for testing it where there is no GPU.
    /// </summary>
    internal static BufferPlacement HostCopyingThroughProvider() => new(OrtMemoryInfo.DefaultInstance, OrtMemoryInfo.DefaultInstance,
        null, null, ExecutionTarget.Cpu, new GpuOptions(), copiesThroughProvider: true);

    /// <summary>Copies between cache buffers must run on the provider (the host cannot address device memory).</summary>
    public bool CopiesThroughProvider { get; }

    /// <summary>A copier on this placement's provider and device for <paramref name="count"/> cache ranges per run.</summary>
    public ProviderCopier CreateCopier(TensorElementType type, int count) => new(_target, _gpu, CacheMemory, type, count);

    /// <summary>The placement the session's provider calls for.</summary>
    public static BufferPlacement For(InferenceSession session, ExecutionTarget target, GpuOptions gpu)
    {
        if (target == ExecutionTarget.Cpu)
            return Host();
        var (deviceInfo, pinnedInfo) = CudaMemory(gpu.DeviceId);
        try
        {
            return new BufferPlacement(deviceInfo, pinnedInfo, new OrtAllocator(session, deviceInfo), new OrtAllocator(session, pinnedInfo),
                target, gpu, copiesThroughProvider: true);
        }
        catch (OnnxRuntimeException e)
        {
            deviceInfo.Dispose();
            pinnedInfo.Dispose();
            throw new ModelLoadException(
                $"the session on '{target.ToString().ToLowerInvariant()}' (device {gpu.DeviceId}) gave no CUDA device or pinned-memory allocator for the KV cache: {e.Message}", e);
        }
    }

    /// <summary>
    /// The CUDA provider's device and pinned-host memory on <paramref name="deviceId"/>. Both carry the GPU's ordinal:
    /// in ONNX Runtime 1.31 "CudaPinned" names OrtDevice(GPU, HOST_ACCESSIBLE, NVIDIA, id) (onnxruntime/core/framework/
    /// allocator.cc, CreateMemoryInfo), and the session looks its allocators up by that device, so pinned memory info
    /// for device 0 finds no allocator in a session on device 1.
    /// </summary>
    internal static (OrtMemoryInfo Device, OrtMemoryInfo Pinned) CudaMemory(int deviceId) =>
        (new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.Default),
         new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.CpuOutput));

    /// <summary>Zeroed cache memory of <paramref name="bytes"/> (device memory is not cleared: nothing reads past a row's length).</summary>
    public nint AllocateCache(long bytes) => _device is null ? AllocateHost(bytes) : AllocateFrom(_device, bytes);

    /// <summary>Zeroed memory for per-step inputs, writable from the host.</summary>
    public nint AllocateInput(long bytes)
    {
        if (_pinned is null)
            return AllocateHost(bytes);
        nint p = AllocateFrom(_pinned, bytes);
        NativeMemory.Clear((void*)p, (nuint)bytes);
        return p;
    }

    private nint AllocateHost(long bytes)
    {
        void* p = NativeMemory.AlignedAlloc((nuint)bytes, 64);
        NativeMemory.Clear(p, (nuint)bytes);
        _hostBlocks.Add((nint)p);
        return (nint)p;
    }

    private nint AllocateFrom(OrtAllocator allocator, long bytes)
    {
        // ORT's managed allocator takes a 32-bit size; a larger per-layer buffer needs fewer slots or a shorter --max-length.
        if (bytes > uint.MaxValue)
            throw new ModelLoadException($"a KV buffer of {bytes:N0} bytes exceeds what one allocation may take (4 GiB); lower --max-batch or --max-length.");
        var allocation = allocator.Allocate((uint)bytes);
        _allocations.Add(allocation);
        // The SafeHandle's handle is the allocated address (the Pointer property is internal).
        return allocation.DangerousGetHandle();
    }

    public void Dispose()
    {
        foreach (var a in _allocations) a.Dispose();
        _allocations.Clear();
        foreach (var p in _hostBlocks) NativeMemory.AlignedFree((void*)p);
        _hostBlocks.Clear();
        _device?.Dispose();
        _pinned?.Dispose();
        if (!ReferenceEquals(CacheMemory, OrtMemoryInfo.DefaultInstance)) CacheMemory.Dispose();
        if (!ReferenceEquals(InputMemory, OrtMemoryInfo.DefaultInstance)) InputMemory.Dispose();
    }
}
