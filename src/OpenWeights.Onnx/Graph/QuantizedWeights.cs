using System.Runtime.InteropServices;
using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Quantization;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// Block-quantized weights: each linear layer is a <c>com.microsoft.MatMulNBits</c> node (bias, if any, added
/// in float), the LM head at <see cref="QuantizationOptions.LmHeadBits"/> (or float), the token table float or
/// read by <c>GatherBlockQuantized</c>. With tied embeddings and a quantized table, one set of bytes on disk
/// serves both the Gather and the head: the head's B is a second initializer pointing at the same external data.
/// </summary>
public sealed class QuantizedWeights : IWeightFormat
{
    private readonly InitializerStore _store;
    private readonly QuantizationOptions _options;
    private readonly FloatWeights _float;
    private readonly Dictionary<int, BlockQuantizer> _quantizers = new();
    private byte[] _data = [], _zeroPoints = [];
    private float[] _scales = [];
    private Half[] _halfScales = [];
    private ushort[] _bfloatScales = [];

    private WeightRef? _tableRef;
    private QuantizedTensors? _table;

    public QuantizedWeights(InitializerStore store, QuantizationOptions options)
    {
        options.Validate();
        if (store.Compute is not (DataType.Float or DataType.Float16 or DataType.Bfloat16))
            throw new NotSupportedException($"MatMulNBits scales must be in the compute type; {store.Compute} is not supported (float, float16 or bfloat16).");
        _store = store;
        _options = options;
        _float = new FloatWeights(store);
    }

    public QuantizationOptions Options => _options;

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures) =>
        Linear(input, w, name, outFeatures, inFeatures, _options.Bits);

    private string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures, int? bits)
    {
        if (bits is null)
            return _float.Linear(input, w, name, outFeatures, inFeatures);
        var values = _store.Reader.Matrix(w.Weight, inputMajor: false, outFeatures, inFeatures);
        var q = Write(name, values, bits.Value, outFeatures, inFeatures, gatherTable: false);
        string y = MatMulNBits(input, q, name);
        return WeightFormats.AddBias(_store, y, w, name, outFeatures);
    }

    /// <summary>
    /// The parts quantized one after the other into one B [Σ out, k_blocks, blob]: blocks run along a row, so the
    /// stacked codes and scales are exactly each part's own, and one part's floats are in memory at a time.
    /// </summary>
    public string PackedLinear(string input, IReadOnlyList<PackedPart> parts, string name, int inFeatures)
    {
        var quantizer = Quantizer(_options.Bits);
        var layout = quantizer.Layout(parts.Sum(p => p.OutFeatures), inFeatures);
        var data = Grow(ref _data, layout.DataBytes);
        var scales = Grow(ref _scales, layout.ScaleCount);
        Span<byte> zeroPoints = quantizer.Symmetric ? Span<byte>.Empty : Grow(ref _zeroPoints, layout.ZeroPointBytes);
        int row = 0;
        foreach (var p in parts)
        {
            var values = _store.Reader.Matrix(p.Weights.Weight, inputMajor: false, p.OutFeatures, inFeatures);
            var part = quantizer.Layout(p.OutFeatures, inFeatures);
            quantizer.Quantize(values, p.OutFeatures, inFeatures,
                data.Slice(checked((int)((long)row * layout.RowBytes)), (int)part.DataBytes),
                scales.Slice(row * layout.BlocksPerRow, (int)part.ScaleCount),
                quantizer.Symmetric ? Span<byte>.Empty : zeroPoints.Slice(row * layout.ZeroPointRowBytes, (int)part.ZeroPointBytes));
            row += p.OutFeatures;
        }
        string y = MatMulNBits(input, Store(name, layout, data, scales, zeroPoints, gatherTable: false), name);
        return WeightFormats.PackedBias(_store, y, parts, name);
    }

    /// <summary>
    /// Each expert quantized as its own MatMulNBits B (body bits), the data streamed expert by expert; scales and
    /// zero points, a fraction of the data's size, are gathered in memory and written after.
    /// </summary>
    public ExpertStack ExpertStack(ExpertWeights experts, string name, int outFeatures, int inFeatures) =>
        QuantizedStack(WeightFormats.ExpertRows(_store, experts, null, name, outFeatures, inFeatures), experts.Experts.Count,
            WeightFormats.StackedBias(_store, experts, name, outFeatures), name, outFeatures, inFeatures, outFeatures);

    public ExpertStack InterleavedExpertStack(ExpertWeights gate, ExpertWeights up, string name, int outFeatures, int inFeatures) =>
        QuantizedStack(WeightFormats.ExpertRows(_store, gate, up, name, outFeatures, inFeatures), gate.Experts.Count,
            null, name, 2 * outFeatures, inFeatures, outFeatures);

    /// <param name="rows">Rows of the stacked B (2 × intermediate when gate and up are interleaved).</param>
    /// <param name="outFeatures">With <paramref name="columns"/>: the hidden and intermediate sizes, in either order.</param>
    private ExpertStack QuantizedStack(InitializerStore.FloatPart expert, int count, string? bias, string name, int rows, int columns,
        int outFeatures)
    {
        int block = _options.ExpertBlockSize(outFeatures, columns);
        var quantizer = block == _options.BlockSize ? Quantizer(_options.Bits) : _options.Quantizer(_options.Bits, block);
        var layout = quantizer.Layout(rows, columns);
        int scaleCount = checked((int)layout.ScaleCount), zeroBytes = checked((int)layout.ZeroPointBytes);
        var allScales = new float[checked(count * scaleCount)];
        var allZeros = quantizer.Symmetric ? [] : new byte[checked(count * zeroBytes)];
        string data = _store.RawStack(name + ".qweight", DataType.Uint8, count, [layout.Rows, layout.RowBytes], layout.DataBytes, layout.Elements, e =>
        {
            var values = expert(e);
            var bytes = Grow(ref _data, layout.DataBytes);
            var scales = allScales.AsSpan(e * scaleCount, scaleCount);
            var zeros = quantizer.Symmetric ? Span<byte>.Empty : allZeros.AsSpan(e * zeroBytes, zeroBytes);
            quantizer.Quantize(values, rows, columns, bytes, scales, zeros);
            return bytes;
        });
        string scaleName = _store.Raw(name + ".scales", _store.Compute, ScaleBytes(allScales), 0, [count, .. layout.ScaleDims]);
        string? zeroName = quantizer.Symmetric ? null
            : _store.Raw(name + ".zero_points", DataType.Uint8, allZeros, 0, [count, .. layout.ZeroPointDims]);
        return new ExpertStack(data, bias, count, layout.Bits, layout.BlockSize, scaleName, zeroName, _options.AccuracyLevel);
    }


    public string Embed(string ids, WeightRef table, string name, int vocab, int hidden)
    {
        _tableRef = table;
        if (_options.EmbeddingBits is not { } bits)
            return _float.Embed(ids, table, name, vocab, hidden);

        var values = _store.Reader.Matrix(table, inputMajor: false, vocab, hidden);
        var q = Write(name, values, bits, vocab, hidden, gatherTable: true);
        _table = q;
        var g = _store.Graph;
        var layout = q.Layout;
        var inputs = new List<string> { q.Data, ids, q.Scales };
        if (q.ZeroPoints is not null)
            inputs.Add(q.ZeroPoints);
        string rows = g.MsOp("GatherBlockQuantized", name + "/GatherBlockQuantized", inputs,
            Attr.Int("gather_axis", 0), Attr.Int("quantize_axis", 1),
            Attr.Int("block_size", layout.BlockSize), Attr.Int("bits", layout.Bits));
        // A ragged last block is stored padded: the gathered rows are k_blocks·block_size wide; cut them back.
        if (layout.BlocksPerRow * layout.BlockSize == hidden)
            return rows;
        return g.Op("Slice", name + "/Slice", [rows, g.Int64s(0), g.Int64s(hidden), g.Int64s(-1)]);
    }

    /// <summary>The head at <see cref="QuantizationOptions.LmHeadBits"/> (float when null).</summary>
    public string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden)
    {
        if (untied is not null)
            return Linear(input, untied, name, vocab, hidden, _options.LmHeadBits);
        if (_table is { } table)
        {
            // Same bytes as the Gather's table, seen as MatMulNBits' [N, k_blocks, blob]; scales and zero points shared.
            string data = Alias(table.Data, name + ".qweight", table.Layout.DataDims);
            return MatMulNBits(input, table with { Data = data }, name);
        }
        var tableRef = _tableRef ?? throw new InvalidOperationException("a tied LmHead needs Embed to have run first.");
        if (_options.LmHeadBits is not { } bits)
            return _float.LmHead(input, null, name, vocab, hidden);
        // Float table for the Gather; the head gets its own quantized copy (smaller and faster than float).
        var values = _store.Reader.Matrix(tableRef, inputMajor: false, vocab, hidden);
        return MatMulNBits(input, Write(name, values, bits, vocab, hidden, gatherTable: false), name);
    }

    /// <summary>Names of one quantized matrix's initializers.</summary>
    private sealed record QuantizedTensors(BlockLayout Layout, string Data, string Scales, string? ZeroPoints);

    private string MatMulNBits(string input, QuantizedTensors q, string name)
    {
        var l = q.Layout;
        var inputs = new List<string> { input, q.Data, q.Scales };
        if (q.ZeroPoints is not null)
            inputs.Add(q.ZeroPoints);
        return _store.Graph.MsOp("MatMulNBits", name + "/MatMulNBits", inputs,
            Attr.Int("K", l.Columns), Attr.Int("N", l.Rows), Attr.Int("bits", l.Bits),
            Attr.Int("block_size", l.BlockSize), Attr.Int("accuracy_level", _options.AccuracyLevel));
    }

    /// <summary>Quantizes [rows, columns] and writes B, scales and zero points; a Gather table's B is 2-D.</summary>
    private QuantizedTensors Write(string name, ReadOnlySpan<float> values, int bits, int rows, int columns, bool gatherTable)
    {
        var quantizer = Quantizer(bits);
        var layout = quantizer.Layout(rows, columns);
        var data = Grow(ref _data, layout.DataBytes);
        var scales = Grow(ref _scales, layout.ScaleCount);
        Span<byte> zeroPoints = quantizer.Symmetric ? Span<byte>.Empty : Grow(ref _zeroPoints, layout.ZeroPointBytes);
        quantizer.Quantize(values, rows, columns, data, scales, zeroPoints);
        return Store(name, layout, data, scales, zeroPoints, gatherTable);
    }

    private QuantizedTensors Store(string name, BlockLayout layout, ReadOnlySpan<byte> data, ReadOnlySpan<float> scales,
        ReadOnlySpan<byte> zeroPoints, bool gatherTable)
    {
        bool symmetric = zeroPoints.IsEmpty;
        string dataName = _store.Raw(name + ".qweight", DataType.Uint8, data, layout.Elements,
            gatherTable ? [layout.Rows, layout.RowBytes] : layout.DataDims);
        string scaleName = _store.Raw(name + ".scales", _store.Compute, ScaleBytes(scales), 0, layout.ScaleDims);
        string? zeroName = symmetric ? null
            : _store.Raw(name + ".zero_points", DataType.Uint8, zeroPoints, 0, layout.ZeroPointDims);
        return new QuantizedTensors(layout, dataName, scaleName, zeroName);
    }

    /// <summary>Scales as stored: the compute type, with no Cast in between (MatMulNBits prepacks them at load).</summary>
    private ReadOnlySpan<byte> ScaleBytes(ReadOnlySpan<float> scales)
    {
        if (_store.Compute == DataType.Float)
            return MemoryMarshal.AsBytes(scales);
        if (_store.Compute == DataType.Bfloat16)
        {
            var bf = Grow(ref _bfloatScales, scales.Length);
            FloatConversion.SingleToBFloat16(scales, bf);
            return MemoryMarshal.AsBytes((ReadOnlySpan<ushort>)bf);
        }
        var half = Grow(ref _halfScales, scales.Length);
        FloatConversion.SingleToHalf(scales, half);
        return MemoryMarshal.AsBytes((ReadOnlySpan<Half>)half);
    }

    /// <summary>A second initializer over an existing one's external bytes, with other dimensions.</summary>
    private string Alias(string existing, string name, long[] dims)
    {
        var initializers = _store.Graph.Graph.Initializer;
        var source = initializers.LastOrDefault(t => t.Name == existing)
            ?? throw new InvalidOperationException($"initializer '{existing}' was not written.");
        var alias = source.Clone();
        alias.Name = name;
        alias.Dims.Clear();
        alias.Dims.AddRange(dims);
        _store.Graph.AddInitializer(alias);
        return name;
    }

    private BlockQuantizer Quantizer(int bits)
    {
        if (!_quantizers.TryGetValue(bits, out var q))
            _quantizers[bits] = q = _options.Quantizer(bits);
        return q;
    }

    private static Span<T> Grow<T>(ref T[] buffer, long length)
    {
        if (length > Array.MaxLength)
            throw new NotSupportedException($"a quantized tensor of {length} elements exceeds one buffer's limit.");
        if (buffer.Length < length)
            buffer = new T[length];
        return buffer.AsSpan(0, (int)length);
    }
}
