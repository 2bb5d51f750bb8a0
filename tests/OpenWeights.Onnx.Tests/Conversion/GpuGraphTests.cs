using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntimeGenAI;
using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Onnx.Proto;
using OpenWeights.Onnx.Tests.Support;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// The graphs written for --ep cuda: fp16 activations, KV cache, norms, rotary tables and quantization scales,
/// float32 logits. There is no GPU here, so they run on ONNX Runtime's CPU EP. On x86-64, ORT 1.31's CPU EP has
/// no fp16 kernel for GroupQueryAttention, MatMul, MatMulNBits, SkipSimplifiedLayerNormalization, Sigmoid,
/// Mul or Add: its InsertCastTransformer (ORT's, not ours) runs those nodes in float32 between fp16 tensors,
/// and the test prints which. What this checks is therefore the graph itself — its types, fp16-rounded
/// weights/norms/rotary tables/scales, fp16 KV cache and tensors between nodes, the wiring — not CUDA's fp16
/// arithmetic, which only a GPU run can check.
///
/// Bounds. FP16 weights alone stay within 2e-2 of transformers (Fp16ParityTests; measured 1.9e-3 to 8.3e-3).
/// Storing every activation in fp16 adds a relative rounding of 2⁻¹¹ per stored tensor, and the logits are
/// themselves computed in fp16 before the final Cast: at |logit| &lt; 16 their spacing is 2⁻⁷, so up to 3.9e-3
/// from that alone. We allow 3e-2 (measured 3.7e-3 to 1.25e-2) and ask for identical greedy ids. Quantized
/// cuda graphs are compared with the same quantization computed in float32 (the CPU form, itself checked against
/// the dequantized-weights reference by QuantizedFamilyTests): the difference is the fp16 activations' alone.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class GpuGraphTests
{
    private const float Fp16ComputeTolerance = 3e-2f;

    public static IEnumerable<object[]> Fixtures => [["llama"], ["qwen2"], ["phi3"], ["gemma"], ["gpt2"], ["mistral"], ["mixtral"]];

    private static ConversionOptions Cuda(Precision precision, ComputeType? compute = null) =>
        new() { Precision = precision, Target = ExecutionTarget.Cuda, Compute = compute };

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void Fp16GraphOnCpuMatchesReference(string fixture)
    {
        string folder = ConvertedFixtures.Hf(fixture, Cuda(Precision.Fp16));
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        string optimized = Path.Combine(TestFixtures.Scratch("optimized"), "model.onnx");
        using var options = new SessionOptions { OptimizedModelFilePath = optimized, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new OrtDecoderSession(folder, options);
        var logits = session.Forward(reference.Longs("input_ids"));
        float diff = Logits.MaxAbsDiff(logits, reference.Floats("full_logits"));
        Console.WriteLine($"{fixture}: fp16 graph on the CPU EP, max |Δlogit| vs transformers = {diff:E2}");
        Console.WriteLine("  run in float32 by ORT's CPU EP (no fp16 kernel): " + string.Join(", ", CastWrappedOps(optimized)));
        Assert.IsLessThanOrEqualTo(Fp16ComputeTolerance, diff, $"{fixture}: fp16-compute prompt logits differ by {diff}");

        var expected = reference.Longs("generated_ids");
        var step = logits.AsSpan(logits.Length - session.Vocab).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i], Logits.ArgMax(step), $"{fixture}: fp16-compute greedy id at step {i}");
            if (i + 1 < expected.Length)
                step = session.Forward([expected[i]]);
        }
    }

    /// <summary>
    /// --compute bf16 (for models whose activations overflow fp16). ORT 1.31's CPU EP cannot run it at all — it has
    /// no bfloat16 kernels for Mul, MatMul, … and inserts no Casts for bfloat16 ("Could not find an implementation
    /// for Mul(14)") — so here only its form is checked: every float tensor bfloat16, logits float32.
    /// Its numbers are unverified without a GPU.
    /// </summary>
    [TestMethod]
    public void Bf16GraphKeepsEveryFloatTensorInBf16()
    {
        string folder = ConvertedFixtures.Hf("gemma", Cuda(Precision.Fp16, ComputeType.Bf16));
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, ModelConverter.ModelFile))).Graph;
        var other = graph.Initializer.Where(t => t.DataType is (int)DataType.Float or (int)DataType.Float16).Select(t => t.Name).ToList();
        Assert.IsEmpty(other, "float tensors of a bf16 graph are bfloat16: " + string.Join(", ", other));
        foreach (var input in graph.Input.Where(i => i.Name.StartsWith("past_key_values.", StringComparison.Ordinal)))
            Assert.AreEqual((int)DataType.Bfloat16, input.Type.TensorType.ElemType, input.Name);
        Assert.AreEqual((int)DataType.Float, graph.Output.Single(o => o.Name == DecoderIo.Logits).Type.TensorType.ElemType);
    }

    [TestMethod]
    [DataRow(Precision.Int4)]
    [DataRow(Precision.Int8)]
    public void QuantizedFp16GraphMatchesTheFloat32FormOfTheSameWeights(Precision precision)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf("llama"));
        var ids = reference.Longs("input_ids");
        float[] Prompt(ConversionOptions o)
        {
            using var session = new OrtDecoderSession(ConvertedFixtures.Hf("llama", o));
            return session.Forward(ids);
        }
        // Same weights and scales (the CPU default's int8 token table set to the cuda form's float one), and
        // accuracy_level 0 in both: CUDA ignores it, and level 4's int8 activations would add their own noise.
        var quantization = new ConversionOptions { Precision = precision, Target = ExecutionTarget.Cuda }.DefaultQuantization with { AccuracyLevel = 0 };
        var cpu = Prompt(new ConversionOptions { Precision = precision, Quantization = quantization });
        var cuda = Prompt(Cuda(precision) with { Quantization = quantization });
        float diff = Logits.MaxAbsDiff(cuda, cpu);
        Console.WriteLine($"llama {precision}: fp16-compute vs fp32-compute graph of the same quantized weights, max |Δlogit| = {diff:E2}");
        Assert.IsLessThanOrEqualTo(Fp16ComputeTolerance, diff, $"{precision}: fp16 activations moved logits by {diff}");
    }

    [TestMethod]
    [DataRow(Precision.Fp16)]
    [DataRow(Precision.Int4)]
    public void CudaGraphKeepsEveryFloatTensorInFp16AndLogitsInFloat32(Precision precision)
    {
        string folder = ConvertedFixtures.Hf("llama", Cuda(precision));
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, ModelConverter.ModelFile))).Graph;
        var floatInitializers = graph.Initializer.Where(t => t.DataType is (int)DataType.Float or (int)DataType.Double or (int)DataType.Bfloat16)
            .Select(t => t.Name).ToList();
        Assert.IsEmpty(floatInitializers, "weights, norms, rotary tables and scales are fp16: " + string.Join(", ", floatInitializers));
        Assert.IsTrue(graph.Initializer.Any(t => t.Name.StartsWith("rotary.", StringComparison.Ordinal) && t.DataType == (int)DataType.Float16));
        Assert.IsFalse(graph.Node.Any(n => n.OpType == "Cast" && n.Output.Any(o => o.EndsWith("/cast", StringComparison.Ordinal)) && !n.Name.StartsWith("lm_head", StringComparison.Ordinal)),
            "no weight is widened by a Cast: they are stored in the compute type");
        foreach (var input in graph.Input.Where(i => i.Name.StartsWith("past_key_values.", StringComparison.Ordinal)))
            Assert.AreEqual((int)DataType.Float16, input.Type.TensorType.ElemType, input.Name);
        Assert.AreEqual((int)DataType.Float, graph.Output.Single(o => o.Name == DecoderIo.Logits).Type.TensorType.ElemType);

        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "genai_config.json")))!;
        var providers = config["model"]!["decoder"]!["session_options"]!["provider_options"]!.AsArray();
        Assert.AreEqual("cuda", providers.Single()!.AsObject().Single().Key, "genai 0.18's name for the CUDA EP");
    }

    /// <summary>
    /// Every GroupQueryAttention node against what ONNX Runtime 1.31's CUDA kernel takes
    /// (contrib_ops/cuda/bert/group_query_attention.cc, contrib_ops/cpu/bert/group_query_attention_helper.h): kernels are
    /// registered for T = T_CACHE = float16 or bfloat16 only; past/present in T_CACHE, [batch, kv_heads, S, head_size],
    /// shared when the same buffer is bound to both; seqlens_k int32 [batch] (input 5); total_sequence_length an int32
    /// scalar in CPU memory (input 6); cos/sin caches read as T, [positions ≥ total, rotary_dim/2] with rotary_dim/2 a
    /// multiple of 8 and at most head_size/2, head_size a multiple of 16; position_ids (input 9) absent, so positions
    /// follow each row's length; no attention_bias.
    /// </summary>
    [TestMethod]
    [DataRow(Precision.Fp16)]
    [DataRow(Precision.Int4)]
    public void CudaGraphMeetsTheCudaGroupQueryAttentionContract(Precision precision)
    {
        string folder = ConvertedFixtures.Hf("llama", Cuda(precision));
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, ModelConverter.ModelFile))).Graph;
        var producers = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).Where(p => p.o.Length > 0).ToDictionary(p => p.o, p => p.n);
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var inputs = graph.Input.ToDictionary(i => i.Name);
        long Attr(NodeProto n, string name) => n.Attribute.Single(a => a.Name == name).I;

        var attention = graph.Node.Where(n => n.OpType == "GroupQueryAttention").ToList();
        Assert.IsNotEmpty(attention);
        foreach (var node in attention)
        {
            Assert.AreEqual("com.microsoft", node.Domain);
            long heads = Attr(node, "num_heads"), kvHeads = Attr(node, "kv_num_heads");
            // T: the query comes out of a projection whose weights (or MatMulNBits scales) are fp16.
            var projection = producers[node.Input[0]];
            Assert.IsTrue(projection.OpType is "MatMul" or "MatMulNBits", $"{node.Name}: query from {projection.OpType}");
            Assert.AreEqual((int)DataType.Float16, initializers[projection.Input[projection.OpType == "MatMulNBits" ? 2 : 1]].DataType,
                $"{node.Name}: the query's projection computes in fp16");
            // T_CACHE = T: past key/value graph inputs in fp16, [batch, kv_heads, past, head_size].
            long headSize = 0;
            foreach (int i in new[] { 3, 4 })
            {
                var past = inputs[node.Input[i]].Type.TensorType;
                Assert.AreEqual((int)DataType.Float16, past.ElemType, node.Input[i]);
                Assert.AreEqual(4, past.Shape.Dim.Count);
                Assert.AreEqual(kvHeads, past.Shape.Dim[1].DimValue);
                headSize = past.Shape.Dim[3].DimValue;
            }
            Assert.AreEqual(0, headSize % 16, "head_size must be a multiple of 16 with rotary");
            // seqlens_k: int32, one per row (ReduceSum over the sequence axis, keepdims 0, minus 1).
            var seqlens = producers[node.Input[5]];
            Assert.AreEqual("Cast", seqlens.OpType);
            Assert.AreEqual((long)DataType.Int32, Attr(seqlens, "to"));
            // total_sequence_length: int32 scalar (a keepdims-0 ReduceMax of the row lengths).
            var total = producers[node.Input[6]];
            Assert.AreEqual("Cast", total.OpType);
            Assert.AreEqual((long)DataType.Int32, Attr(total, "to"));
            var longest = producers[total.Input[0]];
            Assert.AreEqual("ReduceMax", longest.OpType);
            Assert.AreEqual(0, Attr(longest, "keepdims"), "total_sequence_length must be a scalar");
            // Rotary caches: fp16 (read as T), [positions, rotary_dim/2].
            Assert.AreEqual(1, Attr(node, "do_rotary"));
            foreach (int i in new[] { 7, 8 })
            {
                var table = initializers[node.Input[i]];
                Assert.AreEqual((int)DataType.Float16, table.DataType, node.Input[i]);
                Assert.AreEqual(2, table.Dims.Count);
                Assert.AreEqual(0, table.Dims[1] % 8, "rotary_dim/2 must be a multiple of 8");
                Assert.IsLessThanOrEqualTo(headSize / 2, table.Dims[1]);
            }
            Assert.IsLessThanOrEqualTo(9, node.Input.Count, $"{node.Name}: no position_ids or attention_bias");
            // Packed q/k/v (key and value empty) or all three of the same width per head.
            if (node.Input[1].Length == 0)
                Assert.AreEqual(string.Empty, node.Input[2]);
            // Present outputs are the graph outputs that the runtime binds to the past inputs' buffers.
            Assert.IsTrue(graph.Output.Any(o => o.Name == node.Output[1]) && graph.Output.Any(o => o.Name == node.Output[2]));
            Assert.AreEqual(0, heads % kvHeads);
        }
    }

    /// <summary>genai parses the cuda folder's config (strictly) and, with its providers cleared, runs the fp16 graph on the CPU.</summary>
    [TestMethod]
    public void GenAiLoadsTheCudaFolderAndRunsItOnCpu()
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf("llama"));
        var prompt = reference.Longs("input_ids").Select(x => (int)x).ToArray();
        var expected = reference.Longs("generated_ids").Select(x => (int)x).ToArray();
        using var config = new Config(ConvertedFixtures.Hf("llama", Cuda(Precision.Fp16)));
        config.ClearProviders();
        using var model = new Model(config);
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + expected.Length);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone())
            generator.GenerateNextToken();
        CollectionAssert.AreEqual(expected, generator.GetSequence(0).ToArray()[prompt.Length..]);
    }

    /// <summary>Op types next to the Casts ORT inserted (its InsertCastTransformer names them so).</summary>
    private static IEnumerable<string> CastWrappedOps(string optimizedModel)
    {
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimizedModel)).Graph;
        var inserted = graph.Node.Where(n => n.OpType == "Cast" && n.Name.Contains("InsertedPrecisionFreeCast", StringComparison.Ordinal)).ToList();
        var castInputs = inserted.SelectMany(n => n.Input).ToHashSet();
        var castOutputs = inserted.SelectMany(n => n.Output).ToHashSet();
        return graph.Node.Where(n => n.OpType != "Cast" && (n.Input.Any(castOutputs.Contains) || n.Output.Any(castInputs.Contains)))
            .Select(n => n.OpType).Distinct().OrderBy(x => x);
    }
}
