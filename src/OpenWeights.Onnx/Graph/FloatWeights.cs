using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Graph;

/// <summary>FP32/FP16 weights: plain MatMul against weights stored [in, out].</summary>
public sealed class FloatWeights(InitializerStore store) : IWeightFormat
{
    private string? _table;

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures)
    {
        string weight = store.Matrix(w.Weight, name + ".weight", outFeatures, inFeatures, inputMajor: true);
        string y = store.Graph.Op("MatMul", name + "/MatMul", [input, weight]);
        return WeightFormats.AddBias(store, y, w, name, outFeatures);
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
