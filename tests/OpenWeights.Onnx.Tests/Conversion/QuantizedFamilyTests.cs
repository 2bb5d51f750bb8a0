using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>
/// Every family that converts in FP32 also converts to INT8 and INT4 and runs. The fixtures' weights are random
/// (σ=0.15), so quantization noise is large relative to their logits; the check is on the whole distribution:
/// the logits of every prompt position stay strongly correlated with transformers' (a wrong layout, scale or
/// transposition gives a correlation near 0). Quality on a trained model is QuantizationQualityBarTests' job.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class QuantizedFamilyTests
{
    public static IEnumerable<object[]> Cases =>
        from fixture in new[] { "llama", "llama_bf16", "mistral", "qwen2", "phi3", "gemma", "gpt2" }
        from precision in new[] { Precision.Int8, Precision.Int4 }
        select new object[] { fixture, precision };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void QuantizedLogitsFollowTheReference(string fixture, Precision precision)
    {
        using var reference = ReferenceTensors.For(TestFixtures.Hf(fixture));
        using var session = new OrtDecoderSession(ConvertedFixtures.Hf(fixture, precision));
        var logits = session.Forward(reference.Longs("input_ids"));
        var expected = reference.Floats("full_logits");
        double r = Correlation(logits, expected);
        Console.WriteLine($"{fixture} {precision}: correlation {r:F5}, max |Δ| {Logits.MaxAbsDiff(logits, expected):F3}");
        Assert.IsGreaterThan(precision == Precision.Int8 ? 0.999 : 0.9, r, $"{fixture} {precision}: correlation {r}");
    }

    private static double Correlation(float[] a, float[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.Sqrt(saa * sbb);
    }
}
