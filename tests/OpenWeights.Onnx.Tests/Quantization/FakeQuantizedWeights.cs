using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// The float graph of what <see cref="QuantizedWeights"/> computes: the same choices of bits per weight, each
/// weight quantized and dequantized here (<see cref="BlockQuantizer.Dequantize(QuantizedMatrix)"/>) and used by
/// plain MatMul/Gather. With accuracy_level 0 the two graphs must agree to float rounding.
/// </summary>
internal sealed class FakeQuantizedWeights(InitializerStore store, QuantizationOptions options) : IWeightFormat
{
    private string? _table;
    private WeightRef? _tableRef;

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures) =>
        Linear(input, w, name, outFeatures, inFeatures, options.Bits);

    private string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures, int? bits)
    {
        string weight = bits is { } b
            ? Transposed(name + ".weight", RoundTrip(w.Weight, b, outFeatures, inFeatures), outFeatures, inFeatures)
            : store.Matrix(w.Weight, name + ".weight", outFeatures, inFeatures, inputMajor: true);
        string y = store.Graph.Op("MatMul", name + "/MatMul", [input, weight]);
        return w.Bias is null ? y : store.Graph.Op("Add", name + "/Add", [y, store.Vector(w.Bias, name + ".bias", outFeatures)]);
    }

    /// <summary>Each part round-tripped at the body's bits, stacked [Σ out, in], one MatMul (as the packed MatMulNBits).</summary>
    public string PackedLinear(string input, IReadOnlyList<PackedPart> parts, string name, int inFeatures)
    {
        var stacked = parts.SelectMany(p => RoundTrip(p.Weights.Weight, options.Bits, p.OutFeatures, inFeatures)).ToArray();
        int total = parts.Sum(p => p.OutFeatures);
        string y = store.Graph.Op("MatMul", name + "/MatMul", [input, Transposed(name + ".weight", stacked, total, inFeatures)]);
        return WeightFormats.PackedBias(store, y, parts, name);
    }

    public string Embed(string ids, WeightRef table, string name, int vocab, int hidden)
    {
        _tableRef = table;
        _table = options.EmbeddingBits is { } b
            ? store.Floats(name + ".weight", RoundTrip(table, b, vocab, hidden), vocab, hidden)
            : store.Matrix(table, name + ".weight", vocab, hidden, inputMajor: false);
        return store.Graph.Op("Gather", name + "/Gather", [_table, ids]);
    }

    public string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden)
    {
        if (untied is not null)
            return Linear(input, untied, name, vocab, hidden, options.LmHeadBits);
        var g = store.Graph;
        string table = options.EmbeddingBits is null && options.LmHeadBits is { } b
            ? Transposed(name + ".weight", RoundTrip(_tableRef!, b, vocab, hidden), vocab, hidden)
            : g.Op("Transpose", name + "/Transpose", [_table!], Attr.Ints("perm", 1, 0));
        return g.Op("MatMul", name + "/MatMul", [input, table]);
    }

    /// <summary>Each expert quantized and dequantized at the body's bits, stacked [E, out, in] in float.</summary>
    public ExpertStack ExpertStack(ExpertWeights experts, string name, int outFeatures, int inFeatures) =>
        new(store.FloatStack(name + ".weight", experts.Experts.Count, [outFeatures, inFeatures],
            e => RoundTrip(experts.Experts[e].Weight, options.Quantizer(options.Bits, options.ExpertBlockSize(outFeatures, inFeatures)),
                outFeatures, inFeatures)), null, experts.Experts.Count);

    /// <summary>The interleaved [E, 2·out, in] stack, quantized and dequantized as <see cref="QuantizedWeights"/> quantizes it.</summary>
    public ExpertStack InterleavedExpertStack(ExpertWeights gate, ExpertWeights up, string name, int outFeatures, int inFeatures)
    {
        var rows = WeightFormats.ExpertRows(store, gate, up, name, outFeatures, inFeatures);
        var quantizer = options.Quantizer(options.Bits, options.ExpertBlockSize(outFeatures, inFeatures));
        return new(store.FloatStack(name + ".weight", gate.Experts.Count, [2 * outFeatures, inFeatures],
            e => BlockQuantizer.Dequantize(quantizer.Quantize(rows(e), 2 * outFeatures, inFeatures))), null, gate.Experts.Count);
    }


    private float[] RoundTrip(WeightRef w, int bits, int rows, int columns) => RoundTrip(w, options.Quantizer(bits), rows, columns);

    private float[] RoundTrip(WeightRef w, BlockQuantizer quantizer, int rows, int columns)
    {
        var values = store.Reader.Matrix(w, inputMajor: false, rows, columns);
        return BlockQuantizer.Dequantize(quantizer.Quantize(values, rows, columns));
    }

    /// <summary>[out, in] values written as MatMul's [in, out].</summary>
    private string Transposed(string name, float[] outMajor, int rows, int columns)
    {
        var t = new float[outMajor.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                t[c * rows + r] = outMajor[r * columns + c];
        return store.Floats(name, t, columns, rows);
    }
}
