using System.Diagnostics;
using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Tests.Quantization;

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

    /// <summary>Throughput on a 4096×4096 float matrix. A measurement, not a test: runs only with OWONNX_BENCH=1.</summary>
    [TestMethod]
    public void QuantizeThroughput()
    {
        if (Environment.GetEnvironmentVariable("OWONNX_BENCH") != "1")
            Assert.Inconclusive("set OWONNX_BENCH=1 to measure quantization throughput");
        const int n = 4096, k = 4096;
        var w = TinyGraphs.Gaussian(n * k, 1, 0.02f);
        double megabytes = n * (double)k * sizeof(float) / 1e6;
        foreach (int bits in new[] { 4, 8 })
            foreach (bool symmetric in new[] { true, false })
                foreach (var method in new[] { QuantizationMethod.Rtn, QuantizationMethod.MseSearch })
                {
                    var q = new BlockQuantizer(bits, 32, symmetric, method);
                    var layout = q.Layout(n, k);
                    var data = new byte[layout.DataBytes];
                    var scales = new float[layout.ScaleCount];
                    var zeros = new byte[layout.ZeroPointBytes];
                    q.Quantize(w, n, k, data, scales, zeros);   // warm-up
                    var best = double.MaxValue;
                    for (int i = 0; i < 3; i++)
                    {
                        var clock = Stopwatch.StartNew();
                        q.Quantize(w, n, k, data, scales, zeros);
                        best = Math.Min(best, clock.Elapsed.TotalSeconds);
                    }
                    Console.WriteLine($"{bits}-bit {(symmetric ? "sym " : "asym")} {method,-9} block 32, {Environment.ProcessorCount} cores: {megabytes / best,7:F0} MB/s of float input ({best * 1000:F0} ms)");
                }
    }
}
