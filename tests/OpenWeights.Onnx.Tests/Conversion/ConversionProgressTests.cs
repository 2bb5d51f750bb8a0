using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;
using OpenWeights.Onnx.Weights;

namespace OpenWeights.Onnx.Tests.Conversion;

/// <summary>Progress follows the weights actually read, so the bar means the same for every precision.</summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class ConversionProgressTests
{
    private sealed class Recorder : IProgress<ConversionProgress>
    {
        public List<double> Fractions { get; } = new();
        public void Report(ConversionProgress value) => Fractions.Add(value.Fraction);
    }

    [TestMethod]
    [DataRow("llama", Precision.Fp32)]
    [DataRow("qwen2", Precision.Fp16)]
    [DataRow("phi3", Precision.Int4)]
    [DataRow("gpt2", Precision.Int8)]
    public void ProgressRisesMonotonicallyToCompletion(string fixture, Precision precision)
    {
        var recorder = new Recorder();
        string output = Path.Combine(TestFixtures.Scratch("progress"), fixture);
        var result = new ModelConverter(KnownFamilies.All).Convert(TestFixtures.Hf(fixture), output,
            new ConversionOptions { Precision = precision }, recorder);
        Assert.IsGreaterThan(5, recorder.Fractions.Count);
        for (int i = 1; i < recorder.Fractions.Count; i++)
            Assert.IsGreaterThanOrEqualTo(recorder.Fractions[i - 1], recorder.Fractions[i], $"report {i} went backwards");
        Assert.AreEqual(1.0, recorder.Fractions[^1], 1e-9, $"{fixture} {precision}: last report");
        Assert.IsLessThan(0.9, recorder.Fractions[recorder.Fractions.Count / 2], "half the reports should not already claim 90 %");
        Assert.AreEqual(recorder.Fractions.Count, result.Tensors);
    }
}
