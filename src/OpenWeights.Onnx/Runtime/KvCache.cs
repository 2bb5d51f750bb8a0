using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OpenWeights.Onnx.Runtime;

/// <summary>
/// The key/value cache, preallocated once: per layer one key and one value buffer of
/// [slots, kv_heads, max_length, head_size]. The same buffer is bound as GroupQueryAttention's past input and
/// present output, so each step writes its new entries in place — no copy per token. A slot's rows are
/// contiguous, so one sequence can be run alone through a view of its slot.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly float*[] _buffers; // [layer * 2 + (0 key | 1 value)]
    private readonly OrtValue[] _full;

    public int Slots { get; }
    public int MaxLength { get; }
    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadSize { get; }
    public long BytesPerSlot => 2L * Layers * SlotElements * sizeof(float);
    private long SlotElements => (long)KvHeads * MaxLength * HeadSize;

    public KvCache(ModelConfig config, int slots, int maxLength)
    {
        Slots = slots;
        MaxLength = maxLength;
        Layers = config.NumLayers;
        KvHeads = config.NumKvHeads;
        HeadSize = config.HeadSize;
        _buffers = new float*[2 * Layers];
        _full = new OrtValue[2 * Layers];
        long total;
        try { total = checked(2L * Layers * slots * SlotElements * sizeof(float)); }
        catch (OverflowException) { total = long.MaxValue; }
        // Refuse what the machine cannot hold, with the knobs to turn, instead of dying in the allocator.
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (total > available)
            throw new ModelLoadException(
                $"the KV cache for {slots} sequence(s) of {maxLength} tokens needs {total / 1073741824.0:F1} GiB but this machine has " +
                $"{available / 1073741824.0:F1} GiB; lower --max-length or --max-batch.");
        nuint bytes = (nuint)(slots * SlotElements * sizeof(float));
        for (int i = 0; i < _buffers.Length; i++)
        {
            _buffers[i] = (float*)NativeMemory.AlignedAlloc(bytes, 64);
            NativeMemory.Clear(_buffers[i], bytes);
            _full[i] = View(i, 0, slots);
        }
    }

    /// <summary>The whole buffer of one layer's keys (<paramref name="value"/> false) or values.</summary>
    public OrtValue Full(int layer, bool value) => _full[2 * layer + (value ? 1 : 0)];

    /// <summary>A view of <paramref name="count"/> slots from <paramref name="first"/>; the caller disposes it.</summary>
    public OrtValue Slice(int layer, bool value, int first, int count) => View(2 * layer + (value ? 1 : 0), first, count);

    private OrtValue View(int buffer, int first, int count) =>
        OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
            [count, KvHeads, MaxLength, HeadSize],
            (IntPtr)(_buffers[buffer] + first * SlotElements), count * SlotElements * sizeof(float));

    /// <summary>Copies the first <paramref name="length"/> positions of one slot's keys and values into another slot.</summary>
    public void CopySlot(int from, int to, int length)
    {
        if ((uint)from >= (uint)Slots || (uint)to >= (uint)Slots || (uint)length > (uint)MaxLength)
            throw new ArgumentOutOfRangeException(nameof(from), $"cannot copy {length} positions from slot {from} to slot {to} of {Slots}.");
        long headElements = (long)MaxLength * HeadSize;
        nuint bytes = (nuint)((long)length * HeadSize * sizeof(float));
        foreach (var buffer in _buffers)
            for (int head = 0; head < KvHeads; head++)
                Buffer.MemoryCopy(buffer + from * SlotElements + head * headElements, buffer + to * SlotElements + head * headElements,
                    (long)bytes, (long)bytes);
    }

    public void Dispose()
    {
        foreach (var v in _full) v?.Dispose();
        for (int i = 0; i < _buffers.Length; i++)
        {
            NativeMemory.AlignedFree(_buffers[i]);
            _buffers[i] = null;
        }
    }
}
