using OpenWeights.Onnx.Benchmarking;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// q/k/v and gate/up packed into one product each (the default, as onnxruntime-genai's builder writes them) and
/// unpacked (one product per projection): both forms against transformers' logits, and the packed form's
/// structure — fewer, wider products that read exactly the bytes the unpacked ones read.
/// </summary>
[TestClass]
[TestCategory(Category.Parity)]
public sealed class PackedProjectionTests
{
    private const float Fp32Tolerance = 1e-4f;

    // llama: plain q/k/v and gate/up; qwen2: q/k/v biases; phi3: fused qkv_proj/gate_up_proj in the checkpoint;
    // gpt2: fused, input-major c_attn with bias and no gate.
    public static IEnumerable<object[]> Cases =>
        from fixture in new[] { "llama", "qwen2", "phi3", "gpt2" }
        from packed in new[] { true, false }
        select new object[] { fixture, packed };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void BothFormsMatchTransformers(string fixture, bool packed)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture, new ConversionOptions { PackProjections = packed }));
        float diff = Logits.MaxAbsDiff(session.Forward(reference.Longs("input_ids")), reference.Floats("full_logits"));
        Console.WriteLine($"{fixture} packed={packed}: max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Fp32Tolerance, diff, $"{fixture} packed={packed}: prompt logits differ by {diff}");
    }

    [TestMethod]
    public void PackedInt4HasFourProductsPerLayerReadingTheSameBytes()
    {
        var packed = Graph(ConvertedFixtures.Hf("llama", new ConversionOptions { Precision = Precision.Int4 }));
        var unpacked = Graph(ConvertedFixtures.Hf("llama", new ConversionOptions { Precision = Precision.Int4, PackProjections = false }));
        int layers = packed.Graph.Node.Count(n => n.OpType == "GroupQueryAttention");
        Assert.AreEqual(2, layers);
        Assert.AreEqual(4 * layers + 1, Count(packed, "MatMulNBits"), "q/k/v, o, gate/up, down per layer, and the head");
        Assert.AreEqual(7 * layers + 1, Count(unpacked, "MatMulNBits"));

        // The llama fixture: hidden 64, 4 heads of 16, 2 KV heads; MLP 160 wide.
        var qkv = packed.Graph.Node.Single(n => n.Name == "layers.0.attn.qkv_proj/MatMulNBits");
        Assert.AreEqual(64 + 2 * 32, Attribute(qkv, "N"));
        Assert.AreEqual(64, Attribute(qkv, "K"));
        var gateUp = packed.Graph.Node.Single(n => n.Name == "layers.0.mlp.gate_up_proj/MatMulNBits");
        Assert.AreEqual(2 * 160, Attribute(gateUp, "N"));

        // Attention takes the packed product as its query, key and value left empty.
        var attention = packed.Graph.Node.Single(n => n.Name == "layers.0.attn/GroupQueryAttention");
        Assert.AreEqual(qkv.Output[0], attention.Input[0]);
        Assert.AreEqual("", attention.Input[1]);
        Assert.AreEqual("", attention.Input[2]);

        // Same weights, same bytes per decoded token and on disk: packing only regroups them. The one addition is
        // gate/up's Split, whose two int64 sizes are an inline constant (16 bytes).
        var a = WeightTraffic.FromModel(packed);
        var b = WeightTraffic.FromModel(unpacked);
        Console.WriteLine($"packed {a}, unpacked {b}");
        Assert.AreEqual(b.BytesPerToken + 16, a.BytesPerToken);
        Assert.AreEqual(b.StoredBytes + 16, a.StoredBytes);
    }

    private static ModelProto Graph(string folder) =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, ModelConverter.ModelFile)));

    private static int Count(ModelProto model, string op) => model.Graph.Node.Count(n => n.OpType == op);

    private static long Attribute(NodeProto node, string name) => node.Attribute.Single(a => a.Name == name).I;
}
