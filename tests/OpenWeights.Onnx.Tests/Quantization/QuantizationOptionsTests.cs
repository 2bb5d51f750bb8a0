using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Tests.Quantization;

[TestCategory(Category.Unit)]
[TestClass]
public sealed class QuantizationOptionsTests
{
    [TestMethod]
    public void DefaultsAreValid()
    {
        QuantizationOptions.Int4.Validate();
        QuantizationOptions.Int8.Validate();
        Assert.AreEqual(4, QuantizationOptions.Int4.Bits);
        Assert.AreEqual(8, QuantizationOptions.Int4.LmHeadBits);
        Assert.AreEqual(4, QuantizationOptions.Int4.AccuracyLevel);
        Assert.AreEqual(8, QuantizationOptions.Int8.Bits);
        Assert.AreEqual(32, QuantizationOptions.Int4.BlockSize, "64 and 128 miss the INT4 perplexity bar");
        Assert.AreEqual(128, QuantizationOptions.Int8.BlockSize, "fewer scales per token; quality within the INT8 bar");
    }

    [TestMethod]
    [DataRow(4096, 14336, 128)] // Mixtral 8x7B
    [DataRow(2048, 1408, 128)]  // Qwen1.5-MoE / Qwen2-MoE-A2.7B experts
    [DataRow(2048, 768, 128)]   // Qwen3-30B-A3B experts
    [DataRow(64, 128, 64)]      // the tiny Mixtral fixture
    [DataRow(64, 48, 16)]
    [DataRow(60, 90, 128)]      // nothing from 16 up divides both: kept, and QMoE refuses the shape by name
    public void DefaultExpertBlocksFitTheShapeButAChosenBlockSizeIsKept(int hidden, int intermediate, int fitted)
    {
        var defaults = QuantizationOptions.Int8 with { FitExpertBlocks = true };
        Assert.AreEqual(fitted, defaults.ExpertBlockSize(hidden, intermediate));
        Assert.AreEqual(fitted, defaults.ExpertBlockSize(intermediate, hidden), "either order");
        Assert.AreEqual(128, (defaults with { FitExpertBlocks = false }).ExpertBlockSize(hidden, intermediate));
    }

    [TestMethod]
    public void EveryProblemIsReportedSpecifically()
    {
        var options = new QuantizationOptions
        {
            Bits = 2, BlockSize = 48, AccuracyLevel = 7, LmHeadBits = 6,
            Method = (QuantizationMethod)9, Embedding = (EmbeddingPrecision)5, MaxDegreeOfParallelism = 0,
        };
        var problems = options.Problems();
        Assert.HasCount(7, problems);
        var e = Assert.ThrowsExactly<ArgumentException>(options.Validate);
        StringAssert.Contains(e.Message, "quantization bits must be 4 or 8; got 2");
        StringAssert.Contains(e.Message, "power of two from 16 to 256 (16, 32, 64, 128 or 256); got 48");
        StringAssert.Contains(e.Message, "accuracy level must be 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8); got 7");
        StringAssert.Contains(e.Message, "LM head bits must be 4 or 8, or unset to keep the head float; got 6");
        StringAssert.Contains(e.Message, "unknown quantization method 9");
        StringAssert.Contains(e.Message, "unknown embedding precision 5");
        StringAssert.Contains(e.Message, "max degree of parallelism");
    }

    [TestMethod]
    [DataRow(8)]
    [DataRow(12)]
    [DataRow(512)]
    [DataRow(0)]
    public void BlockSizeMustBeAPowerOfTwoFrom16To256(int block)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new QuantizationOptions { BlockSize = block }.Validate());
        StringAssert.Contains(e.Message, $"got {block}");
    }

    [TestMethod]
    public void HeadMayStayFloat() => new QuantizationOptions { LmHeadBits = null }.Validate();
}
