using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Runtime;
using OpenWeights.Onnx.Tests.Quantization;
using OpenWeights.Onnx.Tests.Support;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Runtime;

/// <summary>
/// The runtime's KV cache takes the graph's element type: a one-layer attention model built by hand with its
/// past/present in float16 (and, as a control, float32) is decoded through <see cref="BatchDecoder"/> — prompt,
/// then cached steps, one slot and a right-padded batch of two — and every step's logits are compared with
/// attention computed independently here in double precision over the whole sequence. A cache that kept the
/// wrong element size, dropped entries or was not shared between past and present would miss by far more than
/// the float16 rounding the bound allows.
/// </summary>
[TestClass]
[TestCategory(Category.Unit)]
public sealed class TypedKvCacheTests
{
    private const int Vocab = 16, Dim = 16;

    public static IEnumerable<object[]> KvTypes => [[TensorElementType.Float16], [TensorElementType.Float]];

    [TestMethod]
    [DynamicData(nameof(KvTypes))]
    public void CachedDecodeEqualsFullAttentionReference(TensorElementType kvType)
    {
        var weights = TinyAttention.Create(seed: 11, kvType);
        using var model = LanguageModel.Load(weights.WriteFolder(TestFixtures.Scratch("typed-kv")), new RuntimeOptions { MaxLength = 16 });
        Assert.AreEqual(kvType, model.Config.Io.KvType);
        using var decoder = model.CreateDecoder(1);
        Assert.AreEqual(kvType, decoder.Cache.ElementType);
        Assert.AreEqual(2L * Dim * 16 * (kvType == TensorElementType.Float16 ? 2 : 4), decoder.Cache.BytesPerSlot);

        int[] sequence = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
        const int prompt = 4;
        var logits = decoder.Append(0, sequence.AsSpan(0, prompt)).ToArray();
        for (int i = prompt; ; i++)
        {
            var expected = weights.Reference(sequence.AsSpan(0, i));
            Assert.IsLessThanOrEqualTo(weights.Tolerance, Logits.MaxAbsDiff(logits, expected), $"{kvType}: logits after {i} tokens");
            if (i == sequence.Length)
                break;
            logits = decoder.Step([sequence[i]], [true]).ToArray();
        }
    }

    [TestMethod]
    [DynamicData(nameof(KvTypes))]
    public void RightPaddedBatchGivesEachRowItsReference(TensorElementType kvType)
    {
        var weights = TinyAttention.Create(seed: 5, kvType);
        using var model = LanguageModel.Load(weights.WriteFolder(TestFixtures.Scratch("typed-kv")), new RuntimeOptions { MaxLength = 16, MaxBatch = 2 });
        using var decoder = model.CreateDecoder();
        int[][] rows = [[7, 2, 2, 8, 1, 8, 2], [11, 13, 5, 0, 14, 12, 3, 9, 4]];
        int[] promptLengths = [3, 6];
        var logits = decoder.Prefill([rows[0][..promptLengths[0]], rows[1][..promptLengths[1]]]).ToArray();
        for (int step = 0; step < 3; step++)
        {
            for (int r = 0; r < 2; r++)
            {
                var expected = weights.Reference(rows[r].AsSpan(0, promptLengths[r] + step));
                Assert.IsLessThanOrEqualTo(weights.Tolerance, Logits.MaxAbsDiff(logits.AsSpan(r * Vocab, Vocab), expected), $"{kvType}: row {r} step {step}");
            }
            logits = decoder.Step([rows[0][promptLengths[0] + step], rows[1][promptLengths[1] + step]], [true, true]).ToArray();
        }
    }

    /// <summary>
    /// logits = (softmax(q·kᵀ/√d) v) · Wo with q = E[id], k = E[id]·Wk, v = E[id]·Wv: one head, no rotary,
    /// GroupQueryAttention over a KV cache in <see cref="KvType"/>.
    /// </summary>
    private sealed record TinyAttention(float[] E, float[] Wk, float[] Wv, float[] Wo, TensorElementType KvType)
    {
        /// <summary>float16 rounds every stored activation (k, v, attention output) to 11 bits.</summary>
        public float Tolerance => KvType == TensorElementType.Float16 ? 2e-2f : 1e-4f;

        public static TinyAttention Create(int seed, TensorElementType kvType)
        {
            var random = new Random(seed);
            float[] M(int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(Half)((random.NextSingle() * 2 - 1) * scale)).ToArray();
            return new TinyAttention(M(Vocab * Dim, 1f), M(Dim * Dim, 0.5f), M(Dim * Dim, 0.5f), M(Dim * Vocab, 0.5f), kvType);
        }

        public float[] Reference(ReadOnlySpan<int> ids)
        {
            int n = ids.Length, last = n - 1;
            double[] Row(int id) => Enumerable.Range(0, Dim).Select(c => (double)E[id * Dim + c]).ToArray();
            double[] Times(double[] x, float[] w, int cols) =>
                Enumerable.Range(0, cols).Select(c => Enumerable.Range(0, Dim).Sum(r => x[r] * w[r * cols + c])).ToArray();
            var q = Row(ids[last]);
            var keys = new double[n][];
            var values = new double[n][];
            for (int j = 0; j < n; j++)
            {
                keys[j] = Times(Row(ids[j]), Wk, Dim);
                values[j] = Times(Row(ids[j]), Wv, Dim);
            }
            var scores = keys.Select(k => q.Zip(k, (a, b) => a * b).Sum() / Math.Sqrt(Dim)).ToArray();
            double max = scores.Max();
            var p = scores.Select(s => Math.Exp(s - max)).ToArray();
            double total = p.Sum();
            var output = Enumerable.Range(0, Dim).Select(c => Enumerable.Range(0, n).Sum(j => p[j] / total * values[j][c])).ToArray();
            return Times(output, Wo, Vocab).Select(x => (float)x).ToArray();
        }

        public string WriteFolder(string folder)
        {
            var type = KvType == TensorElementType.Float16 ? DataType.Float16 : DataType.Float;
            var g = new GraphBuilder();
            g.Input("input_ids", DataType.Int64, "batch_size", "sequence_length");
            g.Input("attention_mask", DataType.Int64, "batch_size", "total_sequence_length");
            g.Input("past_key_values.0.key", type, "batch_size", 1, "past_sequence_length", Dim);
            g.Input("past_key_values.0.value", type, "batch_size", 1, "past_sequence_length", Dim);
            g.AddInitializer(Weight("E", E, Vocab, Dim));
            g.AddInitializer(Weight("Wk", Wk, Dim, Dim));
            g.AddInitializer(Weight("Wv", Wv, Dim, Dim));
            g.AddInitializer(Weight("Wo", Wo, Dim, Vocab));
            string x = g.Op("Gather", "embed", ["E", "input_ids"]);
            string k = g.Op("MatMul", "k", [x, "Wk"]);
            string v = g.Op("MatMul", "v", [x, "Wv"]);
            string sum = g.Op("ReduceSum", "sum", ["attention_mask", g.Int64s(1)], Attr.Int("keepdims", 0));
            string seqlens = g.Op("Cast", "seqlens_k", [g.Op("Sub", "sub", [sum, g.Int64s(1)])], Attr.Int("to", (long)DataType.Int32));
            string total = g.Op("Cast", "total", [g.Op("ReduceMax", "max", [sum], Attr.Int("keepdims", 0))], Attr.Int("to", (long)DataType.Int32));
            string attention = g.OpMulti("GroupQueryAttention", "gqa",
                [x, k, v, "past_key_values.0.key", "past_key_values.0.value", seqlens, total],
                ["gqa/out", "present.0.key", "present.0.value"], GraphBuilder.MicrosoftDomain,
                Attr.Int("num_heads", 1), Attr.Int("kv_num_heads", 1))[0];
            string logits = g.Op("MatMul", "head", [attention, "Wo"]);
            g.OpMulti("Cast", "logits", [logits], ["logits"], "", Attr.Int("to", (long)DataType.Float));
            g.Output("logits", DataType.Float, "batch_size", "sequence_length", Vocab);
            g.Output("present.0.key", type, "batch_size", 1, "total_sequence_length", Dim);
            g.Output("present.0.value", type, "batch_size", 1, "total_sequence_length", Dim);
            File.WriteAllBytes(Path.Combine(folder, "model.onnx"), TinyGraphs.Model(g));
            File.WriteAllText(Path.Combine(folder, "genai_config.json"), $$"""
                {"model": {"type": "llama", "vocab_size": {{Vocab}}, "context_length": 64, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
                  "decoder": {"filename": "model.onnx", "num_hidden_layers": 1, "num_key_value_heads": 1, "num_attention_heads": 1,
                              "head_size": {{Dim}}, "hidden_size": {{Dim}} } } }
                """);
            return folder;
        }

        private Onnx.Proto.TensorProto Weight(string name, float[] values, int rows, int cols) =>
            KvType == TensorElementType.Float16
                ? TinyGraphs.Tensor<Half>(name, DataType.Float16, values.Select(f => (Half)f).ToArray(), rows, cols)
                : TinyGraphs.Tensor<float>(name, DataType.Float, values, rows, cols);
    }
}
