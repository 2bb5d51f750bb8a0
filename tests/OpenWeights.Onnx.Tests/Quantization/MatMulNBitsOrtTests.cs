using OpenWeights.Onnx.Graph;
using OpenWeights.Onnx.Quantization;
using DataType = OpenWeights.Onnx.Onnx.Proto.TensorProto.Types.DataType;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>
/// The packed bytes run through ONNX Runtime's own MatMulNBits / GatherBlockQuantized, against
/// A × dequantized(W)ᵀ computed here in double: ORT is the judge of the layout.
/// </summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class MatMulNBitsOrtTests
{
    public static IEnumerable<object[]> Cases =>
        from shape in new (int M, int N, int K, int Block)[]
        {
            (1, 1, 1, 16), (2, 1, 40, 32), (3, 5, 16, 16), (4, 33, 100, 32), (2, 17, 300, 128), (3, 24, 256, 64), (1, 8, 512, 256),
        }
        from bits in new[] { 4, 8 }
        from symmetric in new[] { true, false }
        select new object[] { shape.M, shape.N, shape.K, shape.Block, bits, symmetric };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void AccuracyLevel0MatchesDequantizedProduct(int m, int n, int k, int block, int bits, bool symmetric)
    {
        var (a, q, expected) = Case(m, n, k, block, bits, symmetric);
        var y = TinyGraphs.Run(TinyGraphs.MatMulNBits(q, accuracyLevel: 0), "A", a, m, k);
        Assert.HasCount(m * n, y);
        for (int i = 0; i < y.Length; i++)
        {
            double bound = 1e-5 * (1 + Math.Abs(expected[i])) + 2e-6 * k;
            Assert.IsLessThanOrEqualTo(bound, Math.Abs(y[i] - expected[i]), $"output {i}: ORT {y[i]}, reference {expected[i]}");
        }
    }

    /// <summary>
    /// Level 4 quantizes each block of A to int8 (scale = block max / 127, round to nearest), so each output may
    /// differ by at most Σ_blocks (max|a| / 254)·Σ|w| over the block; checked per output, plus float slack.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void AccuracyLevel4StaysWithinTheInt8ActivationBound(int m, int n, int k, int block, int bits, bool symmetric)
    {
        var (a, q, expected) = Case(m, n, k, block, bits, symmetric);
        var w = BlockQuantizer.Dequantize(q);
        var y = TinyGraphs.Run(TinyGraphs.MatMulNBits(q, accuracyLevel: 4), "A", a, m, k);
        double worst = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double bound = 0;
                for (int b0 = 0; b0 < k; b0 += block)
                {
                    double amax = 0, wsum = 0;
                    for (int t = b0; t < Math.Min(k, b0 + block); t++)
                    {
                        amax = Math.Max(amax, Math.Abs(a[i * k + t]));
                        wsum += Math.Abs(w[j * k + t]);
                    }
                    bound += amax / 254 * wsum;
                }
                double diff = Math.Abs(y[i * n + j] - expected[i * n + j]);
                worst = Math.Max(worst, diff / bound);
                Assert.IsLessThanOrEqualTo(bound * 1.02 + 1e-5 * (1 + Math.Abs(expected[i * n + j])), diff,
                    $"output [{i}, {j}]: ORT {y[i * n + j]}, reference {expected[i * n + j]}, bound {bound}");
            }
        Console.WriteLine($"largest error / int8-activation bound: {worst:F3}");
    }

    private static (float[] A, QuantizedMatrix Q, double[] Expected) Case(int m, int n, int k, int block, int bits, bool symmetric)
    {
        var w = TinyGraphs.Gaussian(n * k, 31 * n + k, 0.05f);
        var a = TinyGraphs.Gaussian(m * k, 7 * m + k);
        var q = new BlockQuantizer(bits, block, symmetric).Quantize(w, n, k);
        return (a, q, TinyGraphs.Reference(a, m, BlockQuantizer.Dequantize(q), n, k));
    }

    public static IEnumerable<object[]> GatherCases =>
        from shape in new (int Vocab, int Hidden, int Block)[] { (50, 64, 32), (20, 96, 64), (9, 16, 16) }
        from bits in new[] { 4, 8 }
        from symmetric in new[] { true, false }
        select new object[] { shape.Vocab, shape.Hidden, shape.Block, bits, symmetric };

    /// <summary>
    /// GatherBlockQuantized reads the same bytes (B as [vocab, k_blocks·blob]) and zero points; a ragged last
    /// block makes rows k_blocks·block wide, the padding reading as zeros.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(GatherCases))]
    public void GatherBlockQuantizedReadsTheSameLayout(int vocab, int hidden, int block, int bits, bool symmetric)
    {
        var table = TinyGraphs.Gaussian(vocab * hidden, vocab + hidden);
        var q = new BlockQuantizer(bits, block, symmetric).Quantize(table, vocab, hidden);
        var l = q.Layout;
        var g = new GraphBuilder();
        g.Input("ids", DataType.Int64, "b", "s");
        g.AddInitializer(TinyGraphs.Tensor<byte>("data", DataType.Uint8, q.Data, l.Rows, l.RowBytes));
        g.AddInitializer(TinyGraphs.Tensor<float>("scales", DataType.Float, q.Scales, l.ScaleDims));
        var inputs = new List<string> { "data", "ids", "scales" };
        if (q.ZeroPoints is not null)
        {
            g.AddInitializer(TinyGraphs.Tensor<byte>("zero_points", DataType.Uint8, q.ZeroPoints, l.ZeroPointDims));
            inputs.Add("zero_points");
        }
        g.OpMulti("GatherBlockQuantized", "gather", inputs, ["Y"], GraphBuilder.MicrosoftDomain,
            Attr.Int("gather_axis", 0), Attr.Int("quantize_axis", 1), Attr.Int("block_size", block), Attr.Int("bits", bits));
        int width = l.BlocksPerRow * block;
        g.Output("Y", DataType.Float, "b", "s", width);
        long[] ids = [0, vocab - 1, 3, vocab / 2, 1, 3];
        var y = TinyGraphs.RunIds(TinyGraphs.Model(g), "ids", ids, 2, 3);
        Assert.HasCount(ids.Length * width, y);
        var expected = BlockQuantizer.Dequantize(q);
        for (int i = 0; i < ids.Length; i++)
            for (int t = 0; t < width; t++)
                Assert.AreEqual(t < hidden ? expected[ids[i] * hidden + t] : 0f, y[i * width + t], 1e-6f, $"id {ids[i]}, column {t}");
    }
}
