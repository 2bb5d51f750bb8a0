using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Tests.Support;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// The --ep tensorrt form: standard ONNX only, except GroupQueryAttention (which TensorRT hands to the CUDA EP
/// appended after it): weight-only INT4/INT8 as blocked DequantizeLinear (opset 21) feeding MatMul, norms from
/// primitive ops, fp16 compute. It must be correct on the CPU EP too; bounds as in <see cref="GpuGraphTests"/>
/// (3e-2: fp16 weights, activations and logits; measured values printed).
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class TensorRtFormTests
{
    private const float Tolerance = 3e-2f;

    private static ConversionOptions TensorRt(Precision precision) => new() { Precision = precision, Target = ExecutionTarget.TensorRt };

    // llama: RMSNorm; gemma: RMSNorm (1 + w), GeLU; gpt2: LayerNorm with bias, learned positions; qwen2: biases.
    public static IEnumerable<object[]> Fixtures => [["llama"], ["gemma"], ["gpt2"], ["qwen2"]];

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void Fp16FormOnCpuMatchesReference(string fixture)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture, TensorRt(Precision.Fp16)));
        var logits = session.Forward(reference.Longs("input_ids"));
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("full_logits"));
        Console.WriteLine($"{fixture}: tensorrt form (fp16) on the CPU EP, max |Δlogit| vs transformers = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Tolerance, diff, $"{fixture}: tensorrt-form logits differ by {diff}");
        var expected = reference.Longs("generated_ids");
        var step = logits.AsSpan(logits.Length - session.Vocab).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], Logits.ArgMax(step), $"{fixture}: tensorrt-form greedy id at step {i}");
            if (i + 1 < expected.Length)
                step = session.Forward([expected[i]]);
        }
    }

    /// <summary>
    /// The same quantized codes and scales as the CPU's MatMulNBits form (accuracy_level 0 there, so both are
    /// plain dequantize-and-multiply): what differs is fp16 activations alone. ORT's CPU EP fuses
    /// DequantizeLinear→MatMul into MatMulNBits with accuracy level 4 (int8 activations, ≈0.15 here) unless told
    /// otherwise: the session asks for level 0, as CUDA/TensorRT compute it.
    /// </summary>
    [TestMethod]
    [DataRow("llama", Precision.Int4)]
    [DataRow("llama", Precision.Int8)]
    [DataRow("gemma", Precision.Int4)]
    [DataRow("qwen2", Precision.Int4)]
    public void QuantizedFormMatchesMatMulNBitsOfTheSameWeights(string fixture, Precision precision)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        var ids = reference.Longs("input_ids");
        var quantization = TensorRt(precision).DefaultQuantization with { AccuracyLevel = 0 };
        float[] Prompt(ConversionOptions o)
        {
            using var options = new Microsoft.ML.OnnxRuntime.SessionOptions();
            options.AddSessionConfigEntry("session.qdq_matmulnbits_accuracy_level", "0");
            using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture, o), options);
            return session.Forward(ids);
        }
        var matMulNBits = Prompt(new ConversionOptions { Precision = precision, Quantization = quantization });
        var dequantized = Prompt(TensorRt(precision) with { Quantization = quantization });
        float diff = Logits.MaxAbsDiff(dequantized, matMulNBits);
        Console.WriteLine($"{fixture} {precision}: DequantizeLinear→MatMul (fp16) vs MatMulNBits (fp32), max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Tolerance, diff, $"{fixture} {precision}: logits differ by {diff}");
    }

    [TestMethod]
    [DataRow(Precision.Int4, DataType.Int4)]
    [DataRow(Precision.Int8, DataType.Int8)]
    public void FormHasNoContribOpButAttentionAndBlockedDequantizeLinear(Precision precision, DataType codes)
    {
        string folder = ConvertedFixtures.Hf("llama", TensorRt(precision));
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, ModelConverter.ModelFile))).Graph;
        var contrib = graph.Node.Where(n => n.Domain.Length > 0 && n.OpType != "GroupQueryAttention")
            .Concat(graph.Node.Where(n => n.OpType == "SimplifiedLayerNormalization")).Select(n => n.OpType).Distinct().ToList();
        Assert.IsEmpty(contrib, "TensorRT parses standard ops only: " + string.Join(", ", contrib));
        var dq = graph.Node.Where(n => n.OpType == "DequantizeLinear").ToList();
        Assert.HasCount(4 * 2 + 1, dq, "four products per layer (q/k/v packed, o, gate/up packed, down; 2 layers) and the LM head");
        // The default blocks: 32 for INT4, 128 for INT8 (README performance section).
        long block = precision == Precision.Int8 ? 128 : 32;
        foreach (var node in dq)
        {
            Assert.AreEqual(block, node.Attribute.Single(a => a.Name == "block_size").I, node.Name);
            var weight = graph.Initializer.Single(t => t.Name == node.Input[0]);
            // The LM head is INT8 by default (it dominates INT4's error).
            var expected = node.Name.StartsWith("lm_head", StringComparison.Ordinal) ? DataType.Int8 : codes;
            Assert.AreEqual((int)expected, weight.DataType, node.Name);
            Assert.AreEqual((int)DataType.Float16, graph.Initializer.Single(t => t.Name == node.Input[1]).DataType, node.Name + " scales");
        }
    }
}
