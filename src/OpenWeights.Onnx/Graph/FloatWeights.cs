using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>FP32/FP16 weights: plain MatMul against weights stored [in, out].</summary>
public sealed class FloatWeights(InitializerStore store) : IWeightFormat
{
    private string? _table;
    private float[] _packed = [];

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures)
    {
        string weight = store.Matrix(w.Weight, name + ".weight", outFeatures, inFeatures, inputMajor: true);
        string y = store.Graph.Op("MatMul", name + "/MatMul", [input, weight]);
        return WeightFormats.AddBias(store, y, w, name, outFeatures);
    }

    /// <summary>The parts' [in, out] matrices side by side as one [in, Σ out] MatMul weight.</summary>
    public string PackedLinear(string input, IReadOnlyList<PackedPart> parts, string name, int inFeatures)
    {
        int total = parts.Sum(p => p.OutFeatures);
        long length = (long)inFeatures * total;
        if (length > Array.MaxLength)
            throw new NotSupportedException($"{name}: a packed weight of {length} elements exceeds one buffer's limit.");
        if (_packed.Length < length)
            _packed = new float[length];
        var packed = _packed.AsSpan(0, (int)length);
        int column = 0;
        foreach (var p in parts)
        {
            var values = store.Reader.Matrix(p.Weights.Weight, inputMajor: true, p.OutFeatures, inFeatures);
            for (int k = 0; k < inFeatures; k++)
                values.Slice(k * p.OutFeatures, p.OutFeatures).CopyTo(packed.Slice(k * total + column, p.OutFeatures));
            column += p.OutFeatures;
        }
        string weight = store.Floats(name + ".weight", packed, inFeatures, total);
        string y = store.Graph.Op("MatMul", name + "/MatMul", [input, weight]);
        return WeightFormats.PackedBias(store, y, parts, name);
    }

    public ExpertStack ExpertStack(ExpertWeights experts, string name, int outFeatures, int inFeatures)
    {
        int count = experts.Experts.Count;
        string weights = store.FloatStack(name + ".weight", count, [outFeatures, inFeatures],
            WeightFormats.ExpertRows(store, experts, null, name, outFeatures, inFeatures));
        return new ExpertStack(weights, WeightFormats.StackedBias(store, experts, name, outFeatures), count);
    }

    public ExpertStack InterleavedExpertStack(ExpertWeights gate, ExpertWeights up, string name, int outFeatures, int inFeatures)
    {
        int count = gate.Experts.Count;
        string weights = store.FloatStack(name + ".weight", count, [2 * outFeatures, inFeatures],
            WeightFormats.ExpertRows(store, gate, up, name, outFeatures, inFeatures));
        return new ExpertStack(weights, null, count);
    }


    public string Embed(string ids, WeightRef table, string name, int vocab, int hidden)
    {
        _table = store.Matrix(table, name + ".weight", vocab, hidden, inputMajor: false);
        return store.Graph.Op("Gather", name + "/Gather", [_table, ids]);
    }

    /// <summary>A tied head is the shared table transposed by a node ONNX Runtime folds at load: one copy on disk.</summary>
    public string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden)
    {
        if (untied is not null)
            return Linear(input, untied, name, vocab, hidden);
        var g = store.Graph;
        string table = _table ?? throw new InvalidOperationException("a tied LmHead needs Embed to have written the table.");
        string transposed = g.Op("Transpose", name + "/Transpose", [table], Attr.Ints("perm", 1, 0));
        return g.Op("MatMul", name + "/MatMul", [input, transposed]);
    }
}
