using OpenWeights.Onnx.Checkpoints;
using OpenWeights.Onnx.Families;
using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Quantization;
using OpenWeights.Onnx.Tests.Quantization;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Weights;

/// <summary>
/// <see cref="IWeightFormat.ExpertStack"/>: experts stored as one [E, out, in] tensor or as one tensor each come out
/// as the same stacked initializer, read back by ONNX Runtime: float values equal to the checkpoint's, quantized
/// blocks equal to quantizing each expert alone (whose layout <see cref="MatMulNBitsOrtTests"/> checks in ORT).
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class ExpertStackTests
{
    private const int Experts = 3, Out = 5, In = 40;   // 40: a ragged last block at block 32

    private static (string, long[], float[])[] Tensors(out float[] stacked, out float[] biases)
    {
        stacked = TinyGraphs.Gaussian(Experts * Out * In, 7);
        biases = TinyGraphs.Gaussian(Experts * Out, 8);
        var tensors = new List<(string, long[], float[])> { ("experts.w", [Experts, Out, In], stacked), ("experts.b", [Experts, Out], biases) };
        for (int e = 0; e < Experts; e++)
            tensors.Add(($"experts.{e}.w", [Out, In], stacked.AsSpan(e * Out * In, Out * In).ToArray()));
        return tensors.ToArray();
    }

    private static ExpertWeights Separate() =>
        new(Enumerable.Range(0, Experts).Select(e => new LinearWeights(new WeightRef($"experts.{e}.w"))).ToArray());

    [TestMethod]
    public void FloatStackEqualsTheCheckpointFromEitherLayout()
    {
        using var g = new WeightGraph("float-experts", Tensors(out var stacked, out var biases));
        var format = new FloatWeights(g.Store);
        var fused = format.ExpertStack(ExpertWeights.Stacked(new WeightRef("experts.w"), Experts, new WeightRef("experts.b")), "fused", Out, In);
        var separate = format.ExpertStack(Separate(), "separate", Out, In);
        Assert.AreEqual(Experts, fused.Experts);
        Assert.IsNull(fused.Bits);
        Assert.IsNull(separate.Bias);
        g.Output(fused.Weights, "fused_w", DataType.Float);
        g.Output(fused.Bias!, "fused_b", DataType.Float);
        g.Output(separate.Weights, "separate_w", DataType.Float);
        var outputs = g.Run();
        CollectionAssert.AreEqual(stacked, (float[])outputs["fused_w"]);
        CollectionAssert.AreEqual(biases, (float[])outputs["fused_b"]);
        CollectionAssert.AreEqual(stacked, (float[])outputs["separate_w"]);
        Assert.AreEqual(2L * Experts * Out * In + Experts * Out, g.Reader.ElementsRead, "every expert read once per stack");
    }

    [TestMethod]
    [DataRow(4, true)]
    [DataRow(8, false)]
    public void QuantizedStackIsEachExpertQuantizedAlone(int bits, bool symmetric)
    {
        var options = (bits == 4 ? QuantizationOptions.Int4 : QuantizationOptions.Int8) with { Symmetric = symmetric };
        using var g = new WeightGraph($"q{bits}-experts", Tensors(out var stacked, out _));
        var stack = new QuantizedWeights(g.Store, options).ExpertStack(ExpertWeights.Stacked(new WeightRef("experts.w"), Experts), "moe", Out, In);
        Assert.AreEqual(bits, stack.Bits);
        Assert.AreEqual(options.BlockSize, stack.BlockSize);
        Assert.AreEqual(symmetric, stack.ZeroPoints is null);
        g.Output(stack.Weights, "data", DataType.Uint8);
        g.Output(stack.Scales!, "scales", DataType.Float);
        if (!symmetric)
            g.Output(stack.ZeroPoints!, "zeros", DataType.Uint8);
        var outputs = g.Run();

        var alone = Enumerable.Range(0, Experts)
            .Select(e => options.Quantizer(bits).Quantize(stacked.AsSpan(e * Out * In, Out * In), Out, In)).ToArray();
        CollectionAssert.AreEqual(alone.SelectMany(q => q.Data).ToArray(), (byte[])outputs["data"]);
        CollectionAssert.AreEqual(alone.SelectMany(q => q.Scales).ToArray(), (float[])outputs["scales"]);
        if (!symmetric)
            CollectionAssert.AreEqual(alone.SelectMany(q => q.ZeroPoints!).ToArray(), (byte[])outputs["zeros"]);
    }

    /// <summary>
    /// ONNX Runtime's MoE fc1: gate and up rows alternate, [E, 2·out, in] = gate₀, up₀, gate₁, up₁, … per expert;
    /// each row read from the checkpoint once.
    /// </summary>
    [TestMethod]
    public void InterleavedStackAlternatesGateAndUpRows()
    {
        var tensors = Tensors(out var stacked, out _);
        var up = TinyGraphs.Gaussian(Experts * Out * In, 9);
        using var g = new WeightGraph("interleaved-experts", [.. tensors, ("experts.up", [Experts, Out, In], up)]);
        var stack = new FloatWeights(g.Store).InterleavedExpertStack(
            ExpertWeights.Stacked(new WeightRef("experts.w"), Experts), ExpertWeights.Stacked(new WeightRef("experts.up"), Experts), "fused", Out, In);
        g.Output(stack.Weights, "fc1", DataType.Float);
        var fc1 = (float[])g.Run()["fc1"];

        var expected = new float[2 * Experts * Out * In];
        for (int e = 0; e < Experts; e++)
            for (int r = 0; r < Out; r++)
            {
                stacked.AsSpan((e * Out + r) * In, In).CopyTo(expected.AsSpan(((e * Out + r) * 2) * In, In));
                up.AsSpan((e * Out + r) * In, In).CopyTo(expected.AsSpan(((e * Out + r) * 2 + 1) * In, In));
            }
        CollectionAssert.AreEqual(expected, fc1);
        Assert.AreEqual(2L * Experts * Out * In, g.Reader.ElementsRead, "each expert's gate and up read once");
    }

    [TestMethod]
    public void ASliceBeyondTheStackNamesTensorAndIndex()
    {
        using var g = new WeightGraph("bad-expert", Tensors(out _, out _));
        var e = Assert.ThrowsExactly<CheckpointException>(() => g.Reader.MatrixShape(new WeightRef("experts.w").At(Experts)));
        StringAssert.Contains(e.Message, "'experts.w'");
        StringAssert.Contains(e.Message, $"no slice {Experts}");
        var flat = Assert.ThrowsExactly<CheckpointException>(() => g.Reader.MatrixShape(new WeightRef("experts.w")));
        StringAssert.Contains(flat.Message, "[3, 5, 40]");
    }
}
