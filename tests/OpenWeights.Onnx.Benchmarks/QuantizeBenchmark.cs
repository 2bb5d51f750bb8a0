using System.Diagnostics;
using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Benchmarks;

/// <summary>
/// Block quantizer throughput on a 4096×4096 Gaussian float matrix, every bit width, symmetry and method at block
/// 32: best of three after a warm-up, in MB/s of float input (moved here from the test project: a measurement).
/// </summary>
public static class QuantizeBenchmark
{
    public static int Run()
    {
        const int n = 4096, k = 4096;
        var w = Gaussian(n * k, seed: 1, sigma: 0.02f);
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
                    q.Quantize(w, n, k, data, scales, zeros);
                    double best = double.MaxValue;
                    for (int i = 0; i < 3; i++)
                    {
                        var clock = Stopwatch.StartNew();
                        q.Quantize(w, n, k, data, scales, zeros);
                        best = Math.Min(best, clock.Elapsed.TotalSeconds);
                    }
                    Console.WriteLine($"{bits}-bit {(symmetric ? "sym " : "asym")} {method,-9} block 32, {Environment.ProcessorCount} cores: " +
                                      $"{megabytes / best,7:F0} MB/s of float input ({best * 1000:F0} ms)");
                }
        return 0;
    }

    private static float[] Gaussian(int count, int seed, float sigma)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = sigma * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return v;
    }
}
