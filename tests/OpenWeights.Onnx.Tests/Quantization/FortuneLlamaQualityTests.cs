using Microsoft.ML.OnnxRuntime;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// Quantization quality on the trained sample model (fortune-llama), against the float reference: KL
/// divergence and top-1 agreement on held-out window 0. Every quantization variant over all held-out windows is
/// a measurement, not a test: <c>dotnet cake --target=QualityVariants</c>.
/// </summary>
[TestCategory(Category.Parity)]
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

        public WindowRunner(string directory)
        {
            using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            _session = new InferenceSession(Path.Combine(directory, "model.onnx"), options);
            var past = _session.InputMetadata[DecoderIo.PastKey(0)];
            _kvHeads = past.Dimensions[1];
            _headDim = past.Dimensions[3];
            _layers = Enumerable.Range(0, int.MaxValue).TakeWhile(i => _session.InputMetadata.ContainsKey(DecoderIo.PastKey(i))).Count();
            Vocab = _session.OutputMetadata[DecoderIo.Logits].Dimensions[2];
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
