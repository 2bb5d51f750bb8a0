using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// The key/value cache, preallocated once in the graph's KV element type (float32, float16 or bfloat16): per
/// layer one key and one value buffer of [slots, kv_heads, max_length, head_size], in host memory or, on CUDA,
/// in device memory (<see cref="BufferPlacement"/>). The same buffer is bound as GroupQueryAttention's past
/// input and present output, so each step writes its new entries in place — no copy per token. A slot's rows
/// are contiguous, so one sequence can be run alone through a view of its slot.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly nint[] _buffers; // [layer * 2 + (0 key | 1 value)], owned by the placement
    private readonly OrtValue[] _full;
    private readonly OrtMemoryInfo _memory;
    // Device memory: copies run on the provider (made on first use); host memory: copied by the host, allocation-free.
    private readonly BufferPlacement _placement;
    private ProviderCopier? _copier;
    private nint[]? _copySources, _copyDestinations;
    private long[]? _copyElements;

    public int Slots { get; }
    public int MaxLength { get; }
    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadSize { get; }
    public TensorElementType ElementType { get; }
    public int ElementSize { get; }
    public bool OnDevice { get; }
    /// <summary>Slot copies run on the provider (device memory), not by the host.</summary>
    public bool CopiesThroughProvider => _placement.CopiesThroughProvider;
    public long BytesPerSlot => 2L * Layers * SlotElements * ElementSize;
    private long SlotElements => (long)KvHeads * MaxLength * HeadSize;

    public KvCache(GenAiConfig config, int slots, int maxLength, BufferPlacement placement)
    {
        Slots = slots;
        MaxLength = maxLength;
        Layers = config.NumLayers;
        KvHeads = config.NumKvHeads;
        HeadSize = config.HeadSize;
        ElementType = config.Io.KvType;
        ElementSize = DecoderIo.SizeOf(ElementType);
        OnDevice = placement.CacheOnDevice;
        _memory = placement.CacheMemory;
        _placement = placement;
        _buffers = new nint[2 * Layers];
        _full = new OrtValue[2 * Layers];
        long total;
        try { total = checked(2L * Layers * slots * SlotElements * ElementSize); }
        catch (OverflowException) { total = long.MaxValue; }
        // Refuse what the machine cannot hold, with the knobs to turn, instead of dying in the allocator.
        // (Device memory is the CUDA allocator's to refuse; this checks host memory.)
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (!OnDevice && total > available)
            throw new ModelLoadException(
                $"the KV cache for {slots} sequence(s) of {maxLength} tokens needs {total / 1073741824.0:F1} GiB but this machine has " +
                $"{available / 1073741824.0:F1} GiB; lower --max-length or --max-batch.");
        for (int i = 0; i < _buffers.Length; i++)
        {
            _buffers[i] = placement.AllocateCache(slots * SlotElements * ElementSize);
            _full[i] = View(i, 0, slots);
        }
    }

    /// <summary>The whole buffer of one layer's keys (<paramref name="value"/> false) or values.</summary>
    public OrtValue Full(int layer, bool value) => _full[2 * layer + (value ? 1 : 0)];

    /// <summary>A view of <paramref name="count"/> slots from <paramref name="first"/>; the caller disposes it.</summary>
    public OrtValue Slice(int layer, bool value, int first, int count) => View(2 * layer + (value ? 1 : 0), first, count);

    private OrtValue View(int buffer, int first, int count) =>
        OrtValue.CreateTensorValueWithData(_memory, ElementType,
            [count, KvHeads, MaxLength, HeadSize],
            _buffers[buffer] + (nint)(first * SlotElements * ElementSize), count * SlotElements * ElementSize);

    /// <summary>
    /// Copies the first <paramref name="length"/> positions of one slot's keys and values into another slot (what
    /// compacting slots, reusing a cached prefix and sharing a prompt between choices need). Host memory is copied
    /// head by head without allocating; device memory by the provider in one run (<see cref="ProviderCopier"/>).
    /// </summary>
    public unsafe void CopySlot(int from, int to, int length)
    {
        if ((uint)from >= (uint)Slots || (uint)to >= (uint)Slots || (uint)length > (uint)MaxLength)
            throw new ArgumentOutOfRangeException(nameof(from), $"cannot copy {length} positions from slot {from} to slot {to} of {Slots}.");
        if (from == to || length == 0)
            return;
        long headBytes = (long)MaxLength * HeadSize * ElementSize;
        long slotBytes = SlotElements * ElementSize;
        if (_placement.CopiesThroughProvider)
        {
            CopyThroughProvider(from * slotBytes, to * slotBytes, length);
            return;
        }
        long bytes = (long)length * HeadSize * ElementSize;
        foreach (nint buffer in _buffers)
        {
            byte* b = (byte*)buffer;
            for (int head = 0; head < KvHeads; head++)
                Buffer.MemoryCopy(b + from * slotBytes + head * headBytes, b + to * slotBytes + head * headBytes, bytes, bytes);
        }
    }

    /// <summary>
    /// One range per buffer, from the slot's first head to the end of <paramref name="length"/> positions of its last:
    /// contiguous, so one Identity per buffer. The positions past the length of the heads before the last are copied
    /// too; in the destination they are past its length, where nothing reads before a step writes them.
    /// </summary>
    private void CopyThroughProvider(long fromOffset, long toOffset, int length)
    {
        _copier ??= _placement.CreateCopier(ElementType, _buffers.Length);
        _copySources ??= new nint[_buffers.Length];
        _copyDestinations ??= new nint[_buffers.Length];
        _copyElements ??= new long[_buffers.Length];
        long elements = (long)(KvHeads - 1) * MaxLength * HeadSize + (long)length * HeadSize;
        for (int i = 0; i < _buffers.Length; i++)
        {
            _copySources[i] = _buffers[i] + (nint)fromOffset;
            _copyDestinations[i] = _buffers[i] + (nint)toOffset;
            _copyElements[i] = elements;
        }
        _copier.Copy(_copySources, _copyDestinations, _copyElements);
    }

    /// <summary>Frees the views; the memory itself belongs to the <see cref="BufferPlacement"/>.</summary>
    public void Dispose()
    {
        foreach (var v in _full) v?.Dispose();
        _copier?.Dispose();
    }
}
