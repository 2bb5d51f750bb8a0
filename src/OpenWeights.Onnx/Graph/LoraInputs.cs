using OpenWeights.Onnx.Adapters;
using OpenWeights.Onnx.Families;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Graph;

/// <summary>
/// Gives every linear layer of the decoder body a place for a run-time LoRA adapter: y = x·W + (x·A)·B in float32
/// (whatever precision W has: an INT4 base keeps the adapter's product exact, QLoRA-style), with A [batch or 1,
/// in, rank] and B [batch or 1, rank, out] graph inputs whose defaults are empty (rank 0: the base model). Scale is
/// folded into B. A batch dimension lets each row of a batch carry its own adapter (rows without one get zeros,
/// ranks are zero-padded to the batch's largest), so requests for different adapters can share a Run.
/// Wraps any <see cref="IWeightFormat"/>; the LM head, the embeddings and expert stacks take no run-time adapter.
/// </summary>
public sealed class LoraInputs(IWeightFormat inner, InitializerStore store) : IWeightFormat
{
    public const string BatchDim = "lora_batch";
    public const string RankDim = "lora_rank";

    private readonly List<LoraSite> _sites = [];

    public IReadOnlyList<LoraSite> Sites => _sites;

    public string Linear(string input, LinearWeights w, string name, int outFeatures, int inFeatures) =>
        store.Graph.Op("Add", name + "/lora/Add", [inner.Linear(input, w, name, outFeatures, inFeatures), Delta(input, w, name, outFeatures, inFeatures)]);

    /// <summary>Each part keeps its own site (its own A and B inputs); the parts' updates, side by side, add to the packed product.</summary>
    public string PackedLinear(string input, IReadOnlyList<PackedPart> parts, string name, int inFeatures)
    {
        string y = inner.PackedLinear(input, parts, name, inFeatures);
        var deltas = parts.Select(p => Delta(input, p.Weights, p.Name, p.OutFeatures, inFeatures)).ToList();
        string delta = store.Graph.Op("Concat", name + "/lora/Concat", deltas, Attr.Int("axis", -1));
        return store.Graph.Op("Add", name + "/lora/Add", [y, delta]);
    }

    /// <summary>(x·A)·B for the site of one projection, in the compute type.</summary>
    private string Delta(string input, LinearWeights w, string name, int outFeatures, int inFeatures)
    {
        var shape = store.Reader.Checkpoint.Get(w.Weight.Tensor).Shape;
        var site = new LoraSite(name, w.Weight.Tensor, w.Weight.OutputStart, outFeatures,
            (int)shape[w.Weight.StoredInputMajor ? 1 : 0], inFeatures, w.Weight.StoredInputMajor);
        _sites.Add(site);

        var g = store.Graph;
        string a = Optional(site.AInput, 1, inFeatures, 0);
        string b = Optional(site.BInput, 1, 0, outFeatures);
        bool cast = store.Compute != DataType.Float;
        string x = cast ? g.Op("Cast", name + "/lora/cast_in", [input], Attr.Int("to", (long)DataType.Float)) : input;
        string xa = g.Op("MatMul", name + "/lora/MatMul_A", [x, a]);
        string delta = g.Op("MatMul", name + "/lora/MatMul_B", [xa, b]);
        if (cast)
            delta = g.Op("Cast", name + "/lora/cast_out", [delta], Attr.Int("to", (long)store.Compute));
        return delta;
    }

    /// <summary>A float32 graph input with an empty initializer of the same name as its default (inline: it has no bytes).</summary>
    private string Optional(string name, long batch, long rows, long columns)
    {
        var g = store.Graph;
        bool isA = name.EndsWith(LoraSite.ASuffix, StringComparison.Ordinal);
        g.Input(name, DataType.Float, BatchDim, isA ? rows : RankDim, isA ? RankDim : columns);
        var empty = new Onnx.Proto.TensorProto { Name = name, DataType = (int)DataType.Float };
        empty.Dims.AddRange([batch, rows, columns]);
        g.AddInitializer(empty);
        return name;
    }

    public string Embed(string ids, WeightRef table, string name, int vocab, int hidden) =>
        inner.Embed(ids, table, name, vocab, hidden);

    public string LmHead(string input, LinearWeights? untied, string name, int vocab, int hidden) =>
        inner.LmHead(input, untied, name, vocab, hidden);

    public ExpertStack ExpertStack(ExpertWeights experts, string name, int outFeatures, int inFeatures) =>
        inner.ExpertStack(experts, name, outFeatures, inFeatures);

    public ExpertStack InterleavedExpertStack(ExpertWeights gate, ExpertWeights up, string name, int outFeatures, int inFeatures) =>
        inner.InterleavedExpertStack(gate, up, name, outFeatures, inFeatures);

}
