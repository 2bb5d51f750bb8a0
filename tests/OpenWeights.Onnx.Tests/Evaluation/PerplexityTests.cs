using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Evaluation;

/// <summary>Our eval protocol on the FP32 conversion reproduces transformers' held-out perplexity.</summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class PerplexityTests
{
    [TestMethod]
    public void Fp32ConversionReproducesTheReferencePerplexityToFourSignificantDigits()
    {
        var report = FortuneQuality.Evaluate(FortuneReference.ConvertedFp32);
        Assert.AreEqual(46683, report.Tokens, "held-out ids");
        Assert.AreEqual(182, report.Windows);
        Assert.AreEqual(182 * 255, report.Predictions);
        double expected = FortuneQuality.ReferencePerplexity; // 86.1035
        Assert.AreEqual(Math.Round(expected, 2), Math.Round(report.Perplexity, 2), $"perplexity {report.Perplexity}");
    }
}
