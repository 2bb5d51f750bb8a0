using System.Runtime.InteropServices;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Onnx.Proto;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Weights;

/// <summary>
/// Streams initializer bytes into the external data file beside <c>model.onnx</c> and returns the
/// <see cref="TensorProto"/> that points at them. Large tensors start on a page boundary so that
/// ONNX Runtime can map them instead of copying.
/// </summary>
public sealed class ExternalDataWriter : IDisposable
{
    private const int PageAlignment = 4096;
    private const int SmallAlignment = 64;
    private const int ConvertChunk = 1 << 20;

    private readonly FileStream _stream;
    private readonly string _location;
    private Half[]? _halfChunk;
    private ushort[]? _bfloatChunk;

    /// <summary>Total bytes written, padding included.</summary>
    public long Length => _stream.Length;

    public ExternalDataWriter(string path, string location)
    {
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        _location = location;
    }

    public TensorProto Write(string name, DataType type, ReadOnlySpan<long> dims, ReadOnlySpan<byte> data)
    {
        long offset = Align(data.Length);
        _stream.Write(data);
        return Describe(name, type, dims, offset, data.Length);
    }

    /// <summary>Writes float32 values stored as <paramref name="type"/> (float or float16), converting in chunks.</summary>
    public TensorProto WriteFloats(string name, DataType type, ReadOnlySpan<long> dims, ReadOnlySpan<float> values)
    {
        long offset = Begin(values.Length * (long)ElementSize(type));
        AppendFloats(type, values);
        return End(name, type, dims, offset);
    }

    /// <summary>
    /// Starts a tensor written in parts (an expert stack, one expert at a time, so only one part is ever in
    /// memory): its bytes follow from <see cref="Append"/>/<see cref="AppendFloats"/> until <see cref="End"/>.
    /// Returns the offset to pass to <see cref="End"/>.
    /// </summary>
    public long Begin(long totalBytes) => Align(totalBytes);

    public void Append(ReadOnlySpan<byte> data) => _stream.Write(data);

    /// <summary>Appends float32 values stored as <paramref name="type"/> (float, float16 or bfloat16), converting in chunks.</summary>
    public void AppendFloats(DataType type, ReadOnlySpan<float> values)
    {
        switch (type)
        {
            case DataType.Float:
                _stream.Write(MemoryMarshal.AsBytes(values));
                return;
            case DataType.Float16:
                _halfChunk ??= new Half[ConvertChunk];
                for (int i = 0; i < values.Length; i += ConvertChunk)
                {
                    int n = Math.Min(ConvertChunk, values.Length - i);
                    FloatConversion.SingleToHalf(values.Slice(i, n), _halfChunk.AsSpan(0, n));
                    _stream.Write(MemoryMarshal.AsBytes(_halfChunk.AsSpan(0, n)));
                }
                return;
            case DataType.Bfloat16:
                _bfloatChunk ??= new ushort[ConvertChunk];
                for (int i = 0; i < values.Length; i += ConvertChunk)
                {
                    int n = Math.Min(ConvertChunk, values.Length - i);
                    FloatConversion.SingleToBFloat16(values.Slice(i, n), _bfloatChunk.AsSpan(0, n));
                    _stream.Write(MemoryMarshal.AsBytes(_bfloatChunk.AsSpan(0, n)));
                }
                return;
            default:
                throw new ArgumentException($"float values cannot be stored as {type}", nameof(type));
        }
    }

    /// <summary>Describes the bytes written since <see cref="Begin"/> as one tensor.</summary>
    public TensorProto End(string name, DataType type, ReadOnlySpan<long> dims, long offset) =>
        Describe(name, type, dims, offset, _stream.Position - offset);

    public static int ElementSize(DataType type) => type switch
    {
        DataType.Float => 4,
        DataType.Float16 or DataType.Bfloat16 => 2,
        _ => throw new ArgumentException($"float values cannot be stored as {type}", nameof(type)),
    };

    private long Align(long size)
    {
        int alignment = size >= PageAlignment * 16 ? PageAlignment : SmallAlignment;
        long position = _stream.Position;
        long padding = (alignment - position % alignment) % alignment;
        if (padding > 0)
        {
            Span<byte> zeros = stackalloc byte[(int)padding];
            zeros.Clear();
            _stream.Write(zeros);
        }
        return _stream.Position;
    }

    private TensorProto Describe(string name, DataType type, ReadOnlySpan<long> dims, long offset, long length)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, DataLocation = TensorProto.Types.DataLocation.External };
        foreach (long d in dims)
            t.Dims.Add(d);
        t.ExternalData.Add(Entry("location", _location));
        t.ExternalData.Add(Entry("offset", offset.ToString()));
        t.ExternalData.Add(Entry("length", length.ToString()));
        return t;
    }

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };

    public void Flush() => _stream.Flush(flushToDisk: true);

    public void Dispose() => _stream.Dispose();
}
