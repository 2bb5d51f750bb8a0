using OpenWeights.Onnx.Conversion;
using OpenWeights.Onnx.Converters;
using OpenWeights.Onnx.Tests.Support;

namespace OpenWeights.Onnx.Tests.Families;

/// <summary>
/// Mixtral's experts are float-only so far (FP32 parity: LlamaFamilyParityTests, BatchDecoderTests): a quantized
/// conversion must fail naming the expert stack, and leave no model behind, rather than write a wrong graph.
/// </summary>
[TestCategory(Category.Parity)]
[TestClass]
public sealed class MixtralPrecisionTests
{
    [TestMethod]
    [DataRow(Precision.Int4)]
    [DataRow(Precision.Int8)]
    public void QuantizedExpertsAreRefusedClearly(Precision precision)
    {
        string output = Path.Combine(TestFixtures.Scratch("mixtral-" + precision), "model");
        var e = Assert.Throws<Exception>(() => new ModelConverter(KnownFamilies.All).Convert(
            TestFixtures.Hf("mixtral"), output, new ConversionOptions { Precision = precision }));
        Console.WriteLine(e.Message);
        StringAssert.Contains(e.Message, "layers.0.moe.experts.gate_proj");
        StringAssert.Contains(e.Message, "quantized experts");
        Assert.IsFalse(Directory.Exists(output), "a refused conversion may not leave a model folder");
    }
}
