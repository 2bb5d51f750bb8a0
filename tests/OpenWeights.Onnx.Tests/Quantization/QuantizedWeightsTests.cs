using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// Whole decoders built with <see cref="Graph.QuantizedWeights"/>, run by plain ONNX Runtime, against the
/// float logits transformers computed. The fixtures are tiny random models (llama: untied head; qwen2: tied
/// embeddings and q/k/v biases), so this checks wiring — every variant runs, tracks the reference, and is laid
/// out as intended — while quality is measured on the trained sample model.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class QuantizedWeightsTests
{
    private static readonly Dictionary<string, QuantizationOptions> Variants = new()
    {
        ["int8"] = QuantizationOptions.Int8,
        ["int4"] = QuantizationOptions.Int4,
        ["int4-asym-rtn"] = QuantizationOptions.Int4 with { Symmetric = false, Method = QuantizationMethod.Rtn },
        ["int4-float-head"] = QuantizationOptions.Int4 with { LmHeadBits = null },
        ["int4-int8-table"] = QuantizationOptions.Int4 with { Embedding = EmbeddingPrecision.Int8 },
        // hidden 64 with blocks of 128: a ragged (padded) table row, cut back by a Slice after the Gather.
        ["int4-int4-table-asym-block128"] = QuantizationOptions.Int4 with { Embedding = EmbeddingPrecision.Int4, BlockSize = 128, Symmetric = false },
    };

    public static IEnumerable<object[]> Cases =>
        from fixture in new[] { "llama", "qwen2" }
        from variant in Variants.Keys
        select new object[] { fixture, variant };

    /// <summary>
    /// With accuracy_level 0, ORT's MatMulNBits/GatherBlockQuantized graph must equal a float graph of the
    /// same weights quantized and dequantized here: this pins packing, layouts, the tied alias and the Slice.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void QuantizedDecoderEqualsTheFloatGraphOfItsDequantizedWeights(string fixture, string variant)
    {
        var options = Variants[variant] with { AccuracyLevel = 0 };
        string quantized = QuantizedConversion.Convert(TestFixtures.Hf(fixture), options, variant);
        string fake = QuantizedConversion.Convert(TestFixtures.Hf(fixture), options, variant + "-fake", fake: true);
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        var ids = reference.Longs("input_ids");
        float[] actual, expected;
        using (var session = new OrtDecoderSession(quantized))
            actual = session.Forward(ids);
        using (var session = new OrtDecoderSession(fake))
            expected = session.Forward(ids);
        double scale = expected.Max(Math.Abs);
        double diff = Logits.MaxAbsDiff(actual, expected);
        Console.WriteLine($"{fixture} {variant}: max |Δlogit| vs fake-quantized float graph {diff:G3} (max |logit| {scale:G3})");
        Assert.IsLessThanOrEqualTo(1e-4 * scale + 1e-5, diff, $"{fixture} {variant}: logits differ by {diff}");
    }

    /// <summary>With the default accuracy_level 4 an INT8 model still tracks transformers' float logits.</summary>
    [TestMethod]
    [DataRow("llama")]
    [DataRow("qwen2")]
    public void Int8DecoderTracksTransformers(string fixture)
    {
        string model = QuantizedConversion.Convert(TestFixtures.Hf(fixture), QuantizationOptions.Int8, "int8");
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var session = new OrtDecoderSession(model);
        var logits = session.Forward(reference.Longs("input_ids"));
        var expected = reference.Floats("full_logits");
        double scale = expected.Max(Math.Abs);
        double diff = Logits.MaxAbsDiff(logits, expected);
        int vocab = session.Vocab, agree = 0, positions = expected.Length / vocab;
        for (int p = 0; p < positions; p++)
            if (Logits.ArgMax(logits.AsSpan(p * vocab, vocab)) == Logits.ArgMax(expected.AsSpan(p * vocab, vocab)))
                agree++;
        Console.WriteLine($"{fixture} int8: max |Δlogit| {diff:G3} (max |logit| {scale:G3}); top-1 {agree}/{positions}");
        Assert.IsLessThanOrEqualTo(0.1 * scale, diff);
    }

    [TestMethod]
    public void EveryLinearLayerIsMatMulNBitsAndTheHeadIsInt8()
    {
        var proto = QuantizedConversion.Load(QuantizedConversion.Convert(TestFixtures.Hf("llama"), QuantizationOptions.Int4, "structure"));
        var nodes = proto.Graph.Node;
        var quantized = nodes.Where(n => n.OpType == "MatMulNBits").ToList();
        // Per layer: q/k/v packed, o, gate/up packed, down; then the head.
        Assert.HasCount(2 * 4 + 1, quantized);
        Assert.IsFalse(nodes.Any(n => n.OpType == "MatMul"), "no float MatMul should remain");
        foreach (var n in quantized)
        {
            Assert.AreEqual("com.microsoft", n.Domain);
            Assert.AreEqual(4, Int(n, "accuracy_level"), n.Name);
            Assert.AreEqual(32, Int(n, "block_size"), n.Name);
            Assert.AreEqual(n.Name.StartsWith("lm_head/", StringComparison.Ordinal) ? 8 : 4, Int(n, "bits"), n.Name);
            Assert.HasCount(3, n.Input, $"{n.Name}: symmetric, so no zero points");
        }
        var down = quantized.Single(n => n.Name == "layers.0.mlp.down_proj/MatMulNBits");
        Assert.AreEqual(160, Int(down, "K"));
        Assert.AreEqual(64, Int(down, "N"));
        var b = proto.Graph.Initializer.Single(t => t.Name == down.Input[1]);
        CollectionAssert.AreEqual(new long[] { 64, 5, 16 }, b.Dims.ToArray());
        Assert.AreEqual((int)TensorProto.Types.DataType.Uint8, b.DataType);
        Assert.AreEqual("Gather", nodes.Single(n => n.Name.StartsWith("embed_tokens/", StringComparison.Ordinal)).OpType);
    }

    [TestMethod]
    public void TiedQuantizedTableIsStoredOnceForGatherAndHead()
    {
        var options = QuantizationOptions.Int4 with { Embedding = EmbeddingPrecision.Int8 };
        var proto = QuantizedConversion.Load(QuantizedConversion.Convert(TestFixtures.Hf("qwen2"), options, "tied"));
        var nodes = proto.Graph.Node;
        var gather = nodes.Single(n => n.OpType == "GatherBlockQuantized");
        var head = nodes.Single(n => n.Name == "lm_head/MatMulNBits");
        Assert.AreEqual(8, Int(gather, "bits"));
        Assert.AreEqual(8, Int(head, "bits"));
        var table = proto.Graph.Initializer.Single(t => t.Name == gather.Input[0]);
        var headB = proto.Graph.Initializer.Single(t => t.Name == head.Input[1]);
        CollectionAssert.AreEqual(new long[] { 512, 64 }, table.Dims.ToArray());
        CollectionAssert.AreEqual(new long[] { 512, 2, 32 }, headB.Dims.ToArray());
        Assert.AreNotEqual(table.Name, headB.Name);
        Assert.AreEqual(External(table, "offset"), External(headB, "offset"), "the head's B must point at the table's bytes");
        Assert.AreEqual(External(table, "length"), External(headB, "length"));
        Assert.AreEqual(gather.Input[2], head.Input[2], "scales are shared");
        // Every other initializer has its own bytes.
        var offsets = proto.Graph.Initializer.Where(t => t.ExternalData.Count > 0).Select(t => External(t, "offset")).ToList();
        Assert.AreEqual(offsets.Count - 1, offsets.Distinct().Count());
    }

    [TestMethod]
    public void TiedFloatTableGetsAQuantizedHeadCopy()
    {
        var proto = QuantizedConversion.Load(QuantizedConversion.Convert(TestFixtures.Hf("qwen2"), QuantizationOptions.Int4, "tied-float"));
        var nodes = proto.Graph.Node;
        Assert.AreEqual("Gather", nodes.Single(n => n.Name.StartsWith("embed_tokens/", StringComparison.Ordinal)).OpType);
        var head = nodes.Single(n => n.Name == "lm_head/MatMulNBits");
        Assert.AreEqual(8, Int(head, "bits"));
        Assert.IsFalse(nodes.Any(n => n.OpType is "MatMul" or "Transpose"));
        // q/k/v biases stay float, added (side by side) after the packed MatMulNBits.
        Assert.IsTrue(nodes.Any(n => n.Name == "layers.0.attn.qkv_proj/Add"));
    }

    private static long Int(NodeProto node, string name) => node.Attribute.Single(a => a.Name == name).I;

    private static string External(TensorProto t, string key) => t.ExternalData.Single(e => e.Key == key).Value;
}
