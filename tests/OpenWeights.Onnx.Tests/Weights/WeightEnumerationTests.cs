using OpenWeights.Onnx.Families;

namespace OpenWeights.Onnx.Tests.Weights;

/// <summary>
/// Weights list themselves (<see cref="WeightGroups.All"/>): the converter's existence check and progress total
/// walk the groups' own properties, so every field, including ones added later, is covered.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class WeightEnumerationTests
{
    private static LinearWeights Linear(string name, bool bias = false) =>
        new(new WeightRef(name + ".weight"), bias ? new WeightRef(name + ".bias") : null);

    private static NormWeights Norm(string name) => new(new WeightRef(name + ".weight"), new WeightRef(name + ".bias"));

    private static LayerWeights EveryField(int i) => new()
    {
        AttentionNorm = Norm($"l{i}.attn_norm"),
        Q = Linear($"l{i}.q", bias: true), K = Linear($"l{i}.k"), V = Linear($"l{i}.v"), O = Linear($"l{i}.o"),
        QNorm = Norm($"l{i}.q_norm"), KNorm = Norm($"l{i}.k_norm"), PostAttentionNorm = Norm($"l{i}.post_attn"),
        MlpNorm = Norm($"l{i}.mlp_norm"), Gate = Linear($"l{i}.gate"), Up = Linear($"l{i}.up"), Down = Linear($"l{i}.down"),
        PostMlpNorm = Norm($"l{i}.post_mlp"),
    };

    [TestMethod]
    public void EveryOptionalAndNestedWeightIsListedOnce()
    {
        var weights = new DecoderWeights
        {
            TokenEmbedding = new WeightRef("embed"), PositionEmbedding = new WeightRef("positions"),
            Layers = [EveryField(0), EveryField(1)], FinalNorm = Norm("final"), LmHead = Linear("head"),
        };
        var names = weights.All().Select(w => w.Tensor).ToList();
        // Per layer: 6 norms × (weight, bias) + Q (weight, bias) + 6 more linear weights = 20.
        Assert.HasCount(2 + 2 * 20 + 2 + 1, names);
        CollectionAssert.AllItemsAreUnique(names);
        CollectionAssert.Contains(names, "l1.q.bias");
        CollectionAssert.Contains(names, "l1.post_mlp.bias");
        CollectionAssert.Contains(names, "positions");
        Assert.AreEqual("embed", names[0], "declaration order: the table first");
    }

    [TestMethod]
    public void EveryLinearLayerIsFoundInOrder()
    {
        var weights = new DecoderWeights
        {
            TokenEmbedding = new WeightRef("embed"), Layers = [EveryField(0)], FinalNorm = Norm("final"), LmHead = Linear("head"),
        };
        var linears = weights.Groups<LinearWeights>().Select(l => l.Weight.Tensor).ToArray();
        CollectionAssert.AreEqual(new[] { "l0.q.weight", "l0.k.weight", "l0.v.weight", "l0.o.weight", "l0.gate.weight", "l0.up.weight", "l0.down.weight", "head.weight" }, linears);
    }

    [TestMethod]
    public void ExpertStacksListEveryExpertSlice()
    {
        var experts = ExpertWeights.Stacked(new WeightRef("experts.w"), 3, new WeightRef("experts.b"));
        var listed = experts.All().Select(w => w.ToString()).ToArray();
        CollectionAssert.AreEqual(new[] { "experts.w[0]", "experts.b[0]", "experts.w[1]", "experts.b[1]", "experts.w[2]", "experts.b[2]" }, listed);
    }

    private sealed record Unlisted(Dictionary<string, WeightRef> ByName) : IWeightGroup;

    [TestMethod]
    public void AFieldOfAnUnknownKindIsRefusedNotSkipped()
    {
        var group = new Unlisted(new() { ["x"] = new WeightRef("x") });
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => group.All().ToList());
        StringAssert.Contains(e.Message, "Unlisted.ByName");
    }
}
