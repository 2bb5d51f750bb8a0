using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>FP32/FP16 weights: plain MatMul against weights stored [in, out].</summary>
public sealed class FloatWeights(InitializerStore store) : IWeightFormat
{
    private string? _table;

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures)
    {
        var g = store.Graph;
        string weight = store.Matrix(w.Weight, name + ".weight", outFeatures, inFeatures, inputMajor: true);
        string y = g.Op("MatMul", name + "/MatMul", [input, weight]);
        if (w.Bias is null)
            return y;
        string bias = store.Vector(w.Bias, name + ".bias", outFeatures);
        return g.Op("Add", name + "/Add", [y, bias]);
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
