using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Quantization;
using OpenWeights.Onnx.Tests.Support;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// Mixtral with block-quantized experts (ONNX Runtime's QMoE) and FP16 experts (MoE), against transformers' FP32
/// references. The bounds come from the dense family of the same width: the llama fixture (hidden 64, 4/2 heads,
/// vocabulary 512, σ = 0.15 weights, 2 layers) quantized the same way and measured against its own transformers
/// references in the same test. Each Mixtral token goes through two experts whose routing weights sum to one, so its
/// MLP noise is of the dense MLP's order; the bound is twice the dense family's KL (plus a floor for the near-exact
/// INT8 case) and top-1 agreement no more than one position in ten below it.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class MixtralQuantizationTests
{
    private const string Positions = "full_logits_prompt_plus_generated";

    [TestMethod]
    [DataRow(Precision.Int8)]
    [DataRow(Precision.Int4)]
    public void QuantizedMixtralStaysAsCloseToTransformersAsTheDenseFamily(Precision precision)
    {
        var mixtral = Agreement("mixtral", precision);
        var dense = Agreement("llama", precision);
        Console.WriteLine($"{precision}: mixtral {mixtral}; dense llama (baseline) {dense}");
        Assert.IsLessThanOrEqualTo(2 * dense.MeanKl + 1e-4, mixtral.MeanKl, $"{precision}: mixtral KL {mixtral.MeanKl} vs dense {dense.MeanKl}");
        Assert.IsGreaterThanOrEqualTo(dense.Top1 - 0.1, mixtral.Top1, $"{precision}: mixtral top-1 {mixtral.Top1} vs dense {dense.Top1}");
        Assert.IsLessThanOrEqualTo(2 * dense.MaxAbsDiff + 1e-3, mixtral.MaxAbsDiff, $"{precision}: mixtral max |Δlogit| {mixtral.MaxAbsDiff} vs dense {dense.MaxAbsDiff}");
    }

    /// <summary>
    /// The router's logits over the prompt, read from the converted graph, pick the experts transformers picked. The
    /// router is float32 in every precision, but the hidden state feeding it carries the quantization error of the
    /// layers below: measured max |Δ router logit| FP16 0.004, INT8 0.067 — under the fixture's smallest gap between
    /// a token's second and third expert (0.073), so no choice can flip — and INT4 1.4, over it: INT4 keeps this
    /// prompt's routing, but on these σ = 0.15 random weights it could flip a close choice elsewhere. The order
    /// within the top k is not compared: the output is a weighted sum over them, and the fixture has near-ties
    /// between first and second.
    /// </summary>
    [TestMethod]
    [DataRow(Precision.Fp32)]
    [DataRow(Precision.Fp16)]
    [DataRow(Precision.Int8)]
    [DataRow(Precision.Int4)]
    public void QuantizationLeavesThePromptsRoutingUnchanged(Precision precision) =>
        AssertRoutingUnchanged(new ConversionOptions { Precision = precision }, precision.ToString());

    /// <summary>
    /// With --compute fp16 (the CUDA graph) the router still runs in float32, from a float32 weight: only the hidden
    /// state it reads and the logits handed to the MoE node are fp16.
    /// </summary>
    [TestMethod]
    [DataRow(Precision.Fp16)]
    [DataRow(Precision.Int4)]
    public void Fp16ComputeKeepsTheRouterInFloat32(Precision precision)
    {
        var options = new ConversionOptions { Precision = precision, Target = ExecutionTarget.Cuda };
        Assert.AreEqual(ComputeType.Fp16, options.EffectiveCompute);
        var graph = QuantizedConversion.Load(ConvertedFixtures.Hf("mixtral", options)).Graph;
        foreach (int layer in new[] { 0, 1 })
        {
            string name = $"layers.{layer}.moe";
            Assert.AreEqual((int)DataType.Float, graph.Initializer.Single(t => t.Name == name + ".router.weight").DataType, "router weight in float32");
            var matMul = graph.Node.Single(n => n.Name == name + "/router/MatMul");
            var cast = graph.Node.Single(n => n.Output.Contains(matMul.Input[0]));
            Assert.AreEqual("Cast", cast.OpType);
            Assert.AreEqual((long)DataType.Float, cast.Attribute.Single(a => a.Name == "to").I, "the router's input is widened to float32");
        }
        AssertRoutingUnchanged(options, $"{precision} --compute fp16");
    }

    private static void AssertRoutingUnchanged(ConversionOptions conversion, string label)
    {
        var precision = label;
        using var reference = ReferenceTensors.For(TestFixtures.Hf("mixtral"));
        var ids = reference.Longs("input_ids");
        var expectedLogits = reference.Floats("router_logits");
        var expectedTopK = reference.Longs("router_topk_experts");
        var shape = reference.Shape("router_logits");
        int layers = (int)shape[0], tokens = (int)shape[1], experts = (int)shape[2], k = (int)reference.Shape("router_topk_experts")[2];

        var logits = RouterLogits(ConvertedFixtures.Hf("mixtral", conversion), ids, layers);
        float worst = 0;
        for (int layer = 0; layer < layers; layer++)
        {
            var actual = logits[layer];
            var expected = expectedLogits.AsSpan(layer * tokens * experts, tokens * experts);
            worst = Math.Max(worst, Logits.MaxAbsDiff(actual, expected));
            for (int t = 0; t < tokens; t++)
            {
                var chosen = TopK(actual.AsSpan(t * experts, experts), k).Order().ToArray();
                var want = expectedTopK.AsSpan((layer * tokens + t) * k, k).ToArray().Order().ToArray();
                CollectionAssert.AreEqual(want, chosen, $"{precision}: layer {layer} token {t} routes to [{string.Join(", ", chosen)}], transformers to [{string.Join(", ", want)}]");
            }
        }
        Console.WriteLine($"{precision}: router logits max |Δ| vs transformers {worst:G3} (smallest top-{k}/top-{k + 1} gap in the fixture: 0.073)");
        if (conversion.Precision == Precision.Fp32)
            Assert.IsLessThan(1e-4f, worst);
    }

    /// <summary>
    /// QMoE reads the experts' MatMulNBits bytes as the dense layers' MatMulNBits does: the quantized graph equals a
    /// float graph of the same dequantized weights (<see cref="FakeQuantizedWeights"/>, run by the float MoE) to float
    /// rounding. accuracy_level 0 keeps activations in float for INT4; ONNX Runtime has no float-activation kernel
    /// for INT8 experts (nor for INT8 MatMulNBits), whose activations are quantized to int8 per block.
    /// </summary>
    /// <summary>A block size the user chose is never changed: experts it cannot divide are refused, naming both sizes.</summary>
    [TestMethod]
    public void AChosenBlockSizeTheExpertsCannotTakeIsRefusedByName()
    {
        var chosen = QuantizationOptions.Int8 with { BlockSize = 128, FitExpertBlocks = false };
        var e = Assert.ThrowsExactly<NotSupportedException>(() => QuantizedConversion.Convert(TestFixtures.Hf("mixtral"), chosen, "moe-int8-b128"));
        StringAssert.Contains(e.Message, "hidden_size (64) and the experts' intermediate size (128) to be multiples of the quantization block size (128)");
        var fitted = QuantizedConversion.Load(ConvertedFixtures.Hf("mixtral", Precision.Int8)).Graph.Node.First(n => n.OpType == "QMoE");
        Assert.AreEqual(64, fitted.Attribute.Single(a => a.Name == "block_size").I, "the defaults fit the experts' block to the shape");
    }

    [TestMethod]
    [DataRow(4, 2e-4f)]
    [DataRow(8, 0.1f)]
    public void QuantizedExpertsComputeTheirDequantizedWeights(int bits, float tolerance)
    {
        // The defaults' expert blocks: INT8's 128 does not divide the fixture's hidden size (64), so experts use 64.
        var options = (bits == 4 ? QuantizationOptions.Int4 : QuantizationOptions.Int8) with { AccuracyLevel = 0, FitExpertBlocks = true };
        string real = QuantizedConversion.Convert(TestFixtures.Hf("mixtral"), options, $"moe-int{bits}");
        string fake = QuantizedConversion.Convert(TestFixtures.Hf("mixtral"), options, $"moe-int{bits}-fake", fake: true);
        Assert.IsTrue(QuantizedConversion.Load(real).Graph.Node.Any(n => n.OpType == "QMoE"), "the quantized graph runs its experts in QMoE");
        Assert.IsTrue(QuantizedConversion.Load(fake).Graph.Node.Any(n => n.OpType == "MoE"), "the float graph runs its experts in MoE");

        using var reference = ReferenceTensors.For(TestFixtures.Hf("mixtral"));
        var ids = reference.Longs("input_ids");
        using var a = new OrtDecoderSession(real);
        using var b = new OrtDecoderSession(fake);
        float diff = Logits.MaxAbsDiff(a.Forward(ids), b.Forward(ids));
        Console.WriteLine($"INT{bits} QMoE vs float MoE of the same dequantized weights: max |Δlogit| {diff:G3}");
        Assert.IsLessThan(tolerance, diff);
    }

    private static LogitAgreement Agreement(string fixture, Precision precision)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        var expected = reference.Floats(Positions);
        var ids = reference.Longs("input_ids").Concat(reference.Longs("generated_ids")).ToArray();
        using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture, precision));
        return LogitAgreement.Measure(session.Forward(ids), expected, session.Vocab);
    }

    private static long[] TopK(ReadOnlySpan<float> logits, int k)
    {
        var order = Enumerable.Range(0, logits.Length).ToArray();
        var values = logits.ToArray();
        return order.OrderByDescending(i => values[i]).ThenBy(i => i).Take(k).Select(i => (long)i).ToArray();
    }

    /// <summary>Each layer's router logits [tokens, E] for a no-cache forward, exposed as extra graph outputs.</summary>
    private static float[][] RouterLogits(string folder, long[] ids, int layers)
    {
        var model = QuantizedConversion.Load(folder);
        var names = Enumerable.Range(0, layers).Select(i => $"layers.{i}.moe/router/MatMul/out").ToArray();
        foreach (var name in names)
        {
            Assert.IsTrue(model.Graph.Node.Any(n => n.Output.Contains(name)), $"no node writes {name}");
            model.Graph.Output.Add(GraphBuilder.ValueInfo(name, DataType.Float, ["tokens", "experts"]));
        }
        string path = Path.Combine(folder, "model.router-logits.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        using var session = new InferenceSession(path);
        var pastMeta = session.InputMetadata[DecoderIo.PastKey(0)];
        var inputs = new Dictionary<string, OrtValue>
        {
            [DecoderIo.InputIds] = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]),
            [DecoderIo.AttentionMask] = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), [1, ids.Length]),
        };
        for (int i = 0; i < layers; i++)
            foreach (var past in new[] { DecoderIo.PastKey(i), DecoderIo.PastValue(i) })
                inputs[past] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, pastMeta.ElementDataType,
                    [1, pastMeta.Dimensions[1], 0, pastMeta.Dimensions[3]]);
        using var options = new RunOptions();
        using var outputs = session.Run(options, inputs.Keys.ToArray(), inputs.Values.ToArray(), names);
        foreach (var v in inputs.Values) v.Dispose();
        return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }
}
