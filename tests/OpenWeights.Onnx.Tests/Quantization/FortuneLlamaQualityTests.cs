using Microsoft.ML.OnnxRuntime;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// Quantization quality on the trained sample model (fortune-llama), against the float reference: KL
/// divergence and top-1 agreement on held-out window 0 (always run), and the held-out perplexity protocol of
/// tests/fixtures/models/fortune-llama/README.md over all 182 windows (a measurement: only with OWONNX_QUALITY=1).
/// </summary>
[TestClass]
public sealed class FortuneLlamaQualityTests
{
    private const int Window = 256;

    [TestMethod]
    [DataRow("int8", 2e-4)]
    [DataRow("int4", 3e-3)]
    public void HeldOutWindow0StaysCloseToFloat(string variant, double maxKl)
    {
        var options = variant == "int8" ? QuantizationOptions.Int8 : QuantizationOptions.Int4;
        using var reference = ReferenceTensors.For(TestFixtures.FortuneLlamaReferences);
        var ids = reference.Longs("heldout_window0_input_ids");
        var expected = reference.Floats("heldout_window0_logits");
        using var runner = new WindowRunner(QuantizedConversion.Convert(TestFixtures.FortuneLlama, options, variant));
        var logits = runner.Logits(ids);
        var (kl, top1) = Compare(expected, logits, runner.Vocab);
        Console.WriteLine($"fortune-llama {variant}: window 0 mean KL {kl:G3}, top-1 {top1:P1}");
        Assert.IsLessThanOrEqualTo(maxKl, kl);
        Assert.IsGreaterThanOrEqualTo(0.9, top1);
    }

    private static readonly (string Name, QuantizationOptions Options)[] Variants =
    [
        ("int8 (default: MSE sym, block 32)", QuantizationOptions.Int8),
        ("int8 RTN sym", QuantizationOptions.Int8 with { Method = QuantizationMethod.Rtn }),
        ("int4 (default: MSE sym, int8 head)", QuantizationOptions.Int4),
        ("int4 RTN sym, int8 head", QuantizationOptions.Int4 with { Method = QuantizationMethod.Rtn }),
        ("int4 MSE asym, int8 head", QuantizationOptions.Int4 with { Symmetric = false }),
        ("int4 RTN asym, int8 head", QuantizationOptions.Int4 with { Symmetric = false, Method = QuantizationMethod.Rtn }),
        ("int4 MSE sym, int4 head", QuantizationOptions.Int4 with { LmHeadBits = 4 }),
        ("int4 RTN sym, int4 head", QuantizationOptions.Int4 with { LmHeadBits = 4, Method = QuantizationMethod.Rtn }),
        ("int4 MSE sym, float head", QuantizationOptions.Int4 with { LmHeadBits = null }),
        ("int4 MSE sym, int8 head, int8 table", QuantizationOptions.Int4 with { Embedding = EmbeddingPrecision.Int8 }),
        ("int4 MSE sym, int8 head, int4 table", QuantizationOptions.Int4 with { Embedding = EmbeddingPrecision.Int4 }),
        ("int4 MSE sym block 64, int8 head", QuantizationOptions.Int4 with { BlockSize = 64 }),
        ("int4 MSE sym block 128, int8 head", QuantizationOptions.Int4 with { BlockSize = 128 }),
        ("int4 MSE asym block 128, int8 head", QuantizationOptions.Int4 with { BlockSize = 128, Symmetric = false }),
        ("int4 MSE sym, int8 head, level 0", QuantizationOptions.Int4 with { AccuracyLevel = 0 }),
    ];

    /// <summary>Perplexity, KL and top-1 vs the FP32 conversion over every held-out window. OWONNX_QUALITY=1 only.</summary>
    [TestMethod]
    public void HeldOutPerplexity()
    {
        if (Environment.GetEnvironmentVariable("OWONNX_QUALITY") != "1")
            Assert.Inconclusive("set OWONNX_QUALITY=1 to measure held-out perplexity of every variant");
        string dir = TestFixtures.FortuneLlama;
        // GPT-2 byte-level BPE (the sample's tokenizer.json: ByteLevel pre-tokenizer with its regex, no normalizer).
        var special = new Dictionary<string, int> { ["<|endoftext|>"] = 0, ["<|im_start|>"] = 1, ["<|im_end|>"] = 2 };
        var gpt2 = new Regex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);
        var tokenizer = BpeTokenizer.Create(new BpeOptions(Path.Combine(dir, "vocab.json"), Path.Combine(dir, "merges.txt"))
        {
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(gpt2, special),
            SpecialTokens = special,
        });
        var ids = tokenizer.EncodeToIds(File.ReadAllText(Path.Combine(dir, "heldout.txt"))).Select(i => (long)i).ToArray();
        using var reference = ReferenceTensors.For(dir);
        Console.WriteLine($"held-out ids: {ids.Length} (README: 46,683); window 0 matches reference: {ids.Take(Window).SequenceEqual(reference.Longs("heldout_window0_input_ids"))}");
        int windows = ids.Length / Window;

        using var fp32 = new WindowRunner(ConvertedFixtures.Get(dir));
        var runners = Variants.Select(v => new WindowRunner(QuantizedConversion.Convert(dir, v.Options, "ppl"))).ToArray();
        var nll = new double[runners.Length + 1];
        var kl = new double[runners.Length];
        var top1 = new long[runners.Length];
        long predictions = 0;
        try
        {
            for (int w = 0; w < windows; w++)
            {
                var window = ids.AsSpan(w * Window, Window).ToArray();
                var floatLogits = fp32.Logits(window);
                nll[0] += Nll(floatLogits, window, fp32.Vocab);
                for (int v = 0; v < runners.Length; v++)
                {
                    var logits = runners[v].Logits(window);
                    nll[v + 1] += Nll(logits, window, fp32.Vocab);
                    var (k, t) = Compare(floatLogits.AsSpan(0, (Window - 1) * fp32.Vocab), logits.AsSpan(0, (Window - 1) * fp32.Vocab), fp32.Vocab);
                    kl[v] += k * (Window - 1);
                    top1[v] += (long)Math.Round(t * (Window - 1));
                }
                predictions += Window - 1;
            }
        }
        finally
        {
            foreach (var r in runners) r.Dispose();
        }
        double basePpl = Math.Exp(nll[0] / predictions);
        Console.WriteLine($"{windows} windows, {predictions} predictions. FP32 perplexity {basePpl:F4} (reference 86.1035)");
        Console.WriteLine($"{"variant",-40} {"PPL",9} {"ΔPPL",8} {"mean KL",9} {"top-1",7} {"data MB",8}");
        for (int v = 0; v < runners.Length; v++)
        {
            double ppl = Math.Exp(nll[v + 1] / predictions);
            Console.WriteLine($"{Variants[v].Name,-40} {ppl,9:F4} {(ppl / basePpl - 1) * 100,7:F3}% {kl[v] / predictions,9:F6} {top1[v] / (double)predictions,7:P2} {runners[v].DataMegabytes,8:F2}");
        }
    }

    /// <summary>Sum over t of −log p(ids[t+1] | ..t).</summary>
    private static double Nll(float[] logits, long[] ids, int vocab)
    {
        double sum = 0;
        for (int t = 0; t < ids.Length - 1; t++)
            sum -= LogSoftmax(logits.AsSpan(t * vocab, vocab))[(int)ids[t + 1]];
        return sum;
    }

    private static double[] LogSoftmax(ReadOnlySpan<float> row)
    {
        double max = double.NegativeInfinity;
        foreach (float v in row) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in row) sum += Math.Exp(v - max);
        double log = max + Math.Log(sum);
        var result = new double[row.Length];
        for (int i = 0; i < row.Length; i++) result[i] = row[i] - log;
        return result;
    }

    /// <summary>Mean KL(reference ‖ actual) per position, and top-1 agreement.</summary>
    private static (double Kl, double Top1) Compare(ReadOnlySpan<float> reference, ReadOnlySpan<float> actual, int vocab)
    {
        int positions = reference.Length / vocab, agree = 0;
        double kl = 0;
        for (int p = 0; p < positions; p++)
        {
            var r = reference.Slice(p * vocab, vocab);
            var a = actual.Slice(p * vocab, vocab);
            var lr = LogSoftmax(r);
            var la = LogSoftmax(a);
            for (int i = 0; i < vocab; i++)
                kl += Math.Exp(lr[i]) * (lr[i] - la[i]);
            if (Logits.ArgMax(r) == Logits.ArgMax(a)) agree++;
        }
        return (kl / positions, agree / (double)positions);
    }

    /// <summary>Runs independent windows from position 0 (empty past) and returns only the logits.</summary>
    private sealed class WindowRunner : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly int _layers, _kvHeads, _headDim;

        public int Vocab { get; }
        public double DataMegabytes { get; }

        public WindowRunner(string directory)
        {
            using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            _session = new InferenceSession(Path.Combine(directory, "model.onnx"), options);
            var past = _session.InputMetadata[DecoderIo.PastKey(0)];
            _kvHeads = past.Dimensions[1];
            _headDim = past.Dimensions[3];
            _layers = Enumerable.Range(0, int.MaxValue).TakeWhile(i => _session.InputMetadata.ContainsKey(DecoderIo.PastKey(i))).Count();
            Vocab = _session.OutputMetadata[DecoderIo.Logits].Dimensions[2];
            DataMegabytes = new FileInfo(Path.Combine(directory, "model.onnx.data")).Length / 1e6;
        }

        public float[] Logits(long[] ids)
        {
            var names = new List<string> { DecoderIo.InputIds, DecoderIo.AttentionMask };
            var values = new List<OrtValue>
            {
                OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]),
                OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), [1, ids.Length]),
            };
            for (int i = 0; i < _layers; i++)
                foreach (var name in new[] { DecoderIo.PastKey(i), DecoderIo.PastValue(i) })
                {
                    names.Add(name);
                    values.Add(OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, _kvHeads, 0, _headDim]));
                }
            try
            {
                using var run = new RunOptions();
                using var outputs = _session.Run(run, names, values, [DecoderIo.Logits]);
                return outputs[0].GetTensorDataAsSpan<float>().ToArray();
            }
            finally
            {
                foreach (var v in values) v.Dispose();
            }
        }

        public void Dispose() => _session.Dispose();
    }
}
