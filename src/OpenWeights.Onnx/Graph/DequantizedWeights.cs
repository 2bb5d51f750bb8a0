using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Quantization;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// Block-quantized weights in standard ONNX, for TensorRT (which parses no contrib op): each linear layer is a
/// blocked <c>DequantizeLinear</c> (opset 21, <c>axis</c> 0, <c>block_size</c>) of an [in, out] INT4/INT8
/// tensor feeding <c>MatMul</c>. The codes and scales are those of <see cref="QuantizedWeights"/> (same
/// quantizer), transposed to MatMul's [in, out]: symmetric blocks become signed codes with no zero point,
/// asymmetric ones unsigned codes with a zero-point tensor. The token table stays float (Gather).
/// </summary>
public sealed class DequantizedWeights : IWeightFormat
{
    private readonly InitializerStore _store;
    private readonly QuantizationOptions _options;
    private readonly FloatWeights _float;
    private readonly Dictionary<int, BlockQuantizer> _quantizers = new();
    private WeightRef? _tableRef;

    public DequantizedWeights(InitializerStore store, QuantizationOptions options)
    {
        options.Validate();
        if (options.EmbeddingBits is not null)
            throw new ArgumentException("--embedding int8/int4 needs GatherBlockQuantized, a contrib op TensorRT cannot parse; use --embedding float for --ep tensorrt.");
        _store = store;
        _options = options;
        _float = new FloatWeights(store);
    }

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures) =>
        Linear(input, w, name, outFeatures, inFeatures, _options.Bits);

    public ExpertStack ExpertStack(ExpertWeights experts, string name, int outFeatures, int inFeatures) =>
        throw new NotSupportedException($"{name}: mixture-of-experts weights are not supported for --ep tensorrt (its form has no MoE node).");

    public ExpertStack InterleavedExpertStack(ExpertWeights gate, ExpertWeights up, string name, int outFeatures, int inFeatures) =>
        ExpertStack(gate, name, outFeatures, inFeatures);


    public string Embed(string ids, WeightRef table, string name, int vocab, int hidden)
    {
        _tableRef = table;
        return _float.Embed(ids, table, name, vocab, hidden);
    }

    public string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden)
    {
        if (untied is not null)
            return Linear(input, untied, name, vocab, hidden, _options.LmHeadBits);
        if (_options.LmHeadBits is null)
            return _float.LmHead(input, null, name, vocab, hidden);
        var table = _tableRef ?? throw new InvalidOperationException("a tied LmHead needs Embed to have run first.");
        return Linear(input, new LinearWeights(table), name, vocab, hidden, _options.LmHeadBits);
    }

    private string Linear(string input, LinearWeights lw, string name, int outFeatures, int inFeatures, int? bits)
    {
        if (bits is null)
            return _float.Linear(input, lw, name, outFeatures, inFeatures);
        var values = _store.Reader.Matrix(lw.Weight, inputMajor: false, outFeatures, inFeatures);
        string y = Product(input, values, name, outFeatures, inFeatures, bits.Value);
        return WeightFormats.AddBias(_store, y, lw, name, outFeatures);
    }

    /// <summary>The parts' [out, in] rows stacked, then quantized and transposed as one matrix (blocks run along a row).</summary>
    public string PackedLinear(string input, IReadOnlyList<PackedPart> parts, string name, int inFeatures)
    {
        int total = parts.Sum(p => p.OutFeatures);
        var values = new float[checked(total * inFeatures)];
        int row = 0;
        foreach (var p in parts)
        {
            _store.Reader.Matrix(p.Weights.Weight, inputMajor: false, p.OutFeatures, inFeatures)
                .CopyTo(values.AsSpan(row * inFeatures, p.OutFeatures * inFeatures));
            row += p.OutFeatures;
        }
        string y = Product(input, values, name, total, inFeatures, _options.Bits);
        return WeightFormats.PackedBias(_store, y, parts, name);
    }

    /// <summary>input × DequantizeLinear(codes, scales)ᵀ for W [out, in] quantized here.</summary>
    private string Product(string input, ReadOnlySpan<float> values, string name, int outFeatures, int inFeatures, int bits)
    {
        var g = _store.Graph;
        var quantizer = Quantizer(bits);
        var m = quantizer.Quantize(values, outFeatures, inFeatures);
        var layout = m.Layout;
        int blocks = layout.BlocksPerRow;
        bool symmetric = m.ZeroPoints is null;

        // [N, K] codes → [K, N] (k-major), signed when symmetric (code − implied zero point).
        long count = (long)inFeatures * outFeatures;
        var codes = new byte[bits == 8 ? count : (count + 1) / 2];
        for (int n = 0; n < outFeatures; n++)
        {
            var row = m.Data.AsSpan(n * layout.RowBytes, layout.RowBytes);
            for (int k = 0; k < inFeatures; k++)
            {
                int code = BlockQuantizer.Code(row, k, layout.Bits);
                if (symmetric)
                    code -= layout.DefaultZeroPoint;
                Put(codes, (long)k * outFeatures + n, code, layout.Bits);
            }
        }
        var scales = new float[(long)blocks * outFeatures];
        for (int n = 0; n < outFeatures; n++)
            for (int b = 0; b < blocks; b++)
                scales[(long)b * outFeatures + n] = m.Scales[n * blocks + b];

        DataType codeType = (bits, symmetric) switch
        {
            (8, true) => DataType.Int8,
            (8, false) => DataType.Uint8,
            (_, true) => DataType.Int4,
            _ => DataType.Uint4,
        };
        var inputs = new List<string>
        {
            _store.Raw(name + ".qweight", codeType, codes, count, inFeatures, outFeatures),
            _store.Floats(name + ".scales", scales, blocks, outFeatures),
        };
        if (!symmetric)
        {
            var zeros = new byte[bits == 8 ? (long)blocks * outFeatures : ((long)blocks * outFeatures + 1) / 2];
            for (int n = 0; n < outFeatures; n++)
                for (int b = 0; b < blocks; b++)
                    Put(zeros, (long)b * outFeatures + n,
                        BlockQuantizer.Code(m.ZeroPoints.AsSpan(n * layout.ZeroPointRowBytes, layout.ZeroPointRowBytes), b, layout.Bits), layout.Bits);
            inputs.Add(_store.Raw(name + ".zero_points", codeType, zeros, 0, blocks, outFeatures));
        }
        string w = g.Op("DequantizeLinear", name + "/DequantizeLinear", inputs,
            Attr.Int("axis", 0), Attr.Int("block_size", layout.BlockSize));
        return g.Op("MatMul", name + "/MatMul", [input, w]);
    }

    /// <summary>Stores a code at a flat index: a byte for 8 bits, else a nibble, the even index in the low one.</summary>
    private static void Put(byte[] packed, long index, int code, int bits)
    {
        if (bits == 8)
        {
            packed[index] = (byte)code;
            return;
        }
        int shift = (int)(index & 1) * 4;
        packed[index >> 1] |= (byte)((code & 0xF) << shift);
    }

    private BlockQuantizer Quantizer(int bits)
    {
        if (!_quantizers.TryGetValue(bits, out var q))
            _quantizers[bits] = q = _options.Quantizer(bits);
        return q;
    }
}
