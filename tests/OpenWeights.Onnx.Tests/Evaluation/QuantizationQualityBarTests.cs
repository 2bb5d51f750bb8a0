using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Evaluation;

/// <summary>
/// The quality bars of tests/fixtures/models/fortune-llama/README.md on the trained sample, held-out text, all 182 windows, with the
/// product's default settings (what `owonnx convert --precision int8|int4` produces): INT8 within +0.5 % of
/// the transformers FP32 perplexity, INT4 (block 32, symmetric) within +0.2 % — llama.cpp's Q4_0 on the same
/// model and text.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class QuantizationQualityBarTests
{
    [TestMethod]
    [DataRow(Precision.Int8, 0.005)]
    [DataRow(Precision.Int4, 0.002)]
    public void DefaultQuantizationStaysWithinTheReadmeBound(Precision precision, double bound)
    {
        var report = FortuneQuality.Evaluate(ConvertedFixtures.Get(TestFixtures.FortuneLlama, precision));
        double reference = FortuneQuality.ReferencePerplexity;
        double change = report.Perplexity / reference - 1;
        Console.WriteLine($"{precision}: perplexity {report.Perplexity:F4} vs {reference} ({change:+0.000%;-0.000%})");
        Assert.AreEqual(182 * 255, report.Predictions);
        Assert.IsLessThanOrEqualTo(bound, change, $"{precision}: perplexity {report.Perplexity:F4} is {change:P3} above the reference");
    }

    [TestMethod]
    public void Int4IsSmallerThanLlamaCppQ4_0OnTheSameModel()
    {
        // llama.cpp's Q4_0 file of this model is 4.8 MB (tests/fixtures/models/fortune-llama/README.md).
        string dir = ConvertedFixtures.Get(TestFixtures.FortuneLlama, Precision.Int4);
        long bytes = new FileInfo(Path.Combine(dir, ModelConverter.DataFile)).Length
                     + new FileInfo(Path.Combine(dir, ModelConverter.ModelFile)).Length;
        Assert.IsLessThan(4_800_000L, bytes, $"int4 model is {bytes} bytes");
    }
}
