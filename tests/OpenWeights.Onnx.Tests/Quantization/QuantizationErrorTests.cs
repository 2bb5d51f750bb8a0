using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Tests.Quantization;

[TestCategory(Category.Unit)]
[TestClass]
public sealed class QuantizationErrorTests
{
    public static IEnumerable<object[]> Settings =>
        from bits in new[] { 4, 8 }
        from symmetric in new[] { true, false }
        from block in new[] { 32, 128 }
        select new object[] { bits, symmetric, block };

    /// <summary>Relative RMS error ‖W − Ŵ‖ / ‖W‖ on Gaussian weights, RTN vs MSE search; the search must not lose.</summary>
    [TestMethod]
    [DynamicData(nameof(Settings))]
    public void MseSearchErrorIsAtMostRtnErrorOnGaussianWeights(int bits, bool symmetric, int block)
    {
        const int n = 256, k = 1000;   // 1000: a ragged last block too
        var w = TinyGraphs.Gaussian(n * k, 2024, 0.02f);
        double rtn = RelativeError(w, new BlockQuantizer(bits, block, symmetric, QuantizationMethod.Rtn).Quantize(w, n, k));
        double mse = RelativeError(w, new BlockQuantizer(bits, block, symmetric, QuantizationMethod.MseSearch).Quantize(w, n, k));
        Console.WriteLine($"bits {bits} {(symmetric ? "symmetric " : "asymmetric")} block {block,3}: relative RMS error RTN {rtn:F5}, MSE search {mse:F5} ({(1 - mse / rtn) * 100:F1} % lower)");
        Assert.IsLessThanOrEqualTo(rtn, mse);
    }

    private static double RelativeError(float[] w, QuantizedMatrix q)
    {
        var back = BlockQuantizer.Dequantize(q);
        double err = 0, norm = 0;
        for (int i = 0; i < w.Length; i++)
        {
            err += (double)(w[i] - back[i]) * (w[i] - back[i]);
            norm += (double)w[i] * w[i];
        }
        return Math.Sqrt(err / norm);
    }
}
