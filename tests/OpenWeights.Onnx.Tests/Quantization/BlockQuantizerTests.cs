using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Tests.Quantization;

/// <summary>Packing and rounding of <see cref="BlockQuantizer"/>, checked against hand-computed bytes and a scalar unpacker.</summary>
[TestCategory(Category.Unit)]
[TestClass]
public sealed class BlockQuantizerTests
{
    public static IEnumerable<object[]> Variants =>
        from bits in new[] { 4, 8 }
        from symmetric in new[] { true, false }
        from method in new[] { QuantizationMethod.Rtn, QuantizationMethod.MseSearch }
        select new object[] { bits, symmetric, method };

    public static IEnumerable<object[]> Shapes =>
        from shape in new (int N, int K, int Block)[] { (1, 1, 16), (1, 40, 32), (3, 16, 16), (5, 100, 32), (7, 300, 128), (2, 256, 256), (9, 33, 64) }
        from bits in new[] { 4, 8 }
        from symmetric in new[] { true, false }
        select new object[] { shape.N, shape.K, shape.Block, bits, symmetric };

    [TestMethod]
    public void FourBitCodesArePackedLowNibbleFirst()
    {
        // x = (i − 8)/2: the extreme −4 maps to code 0 (−8 + 8), so code i holds value i; scale 0.5.
        var x = Enumerable.Range(0, 16).Select(i => (i - 8) / 2f).ToArray();
        var q = new BlockQuantizer(4, 16, symmetric: true, QuantizationMethod.Rtn).Quantize(x, 1, 16);
        CollectionAssert.AreEqual(new byte[] { 0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE }, q.Data);
        Assert.AreEqual(0.5f, q.Scales[0]);
        Assert.IsNull(q.ZeroPoints);
        CollectionAssert.AreEqual(x, BlockQuantizer.Dequantize(q));
    }

    [TestMethod]
    public void EightBitCodesAreStoredAsBytesWithImpliedZeroPoint128()
    {
        var x = Enumerable.Range(0, 16).Select(i => i - 128f).ToArray();   // extreme −128 → code 0, scale 1
        var q = new BlockQuantizer(8, 16, symmetric: true, QuantizationMethod.Rtn).Quantize(x, 1, 16);
        CollectionAssert.AreEqual(Enumerable.Range(0, 16).Select(i => (byte)i).ToArray(), q.Data);
        Assert.AreEqual(1f, q.Scales[0]);
    }

    [TestMethod]
    public void FourBitZeroPointsArePackedPerRowLowNibbleFirst()
    {
        // Blocks of 16: all positive (zero point 0), all negative (15), all positive (0); two rows.
        int k = 48;
        var w = new float[2 * k];
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < k; c++)
                w[r * k + c] = (c / 16 == 1 ? -1 : 1) * (c % 16) * (r + 1);   // 0..15 steps: exact
        var q = new BlockQuantizer(4, 16, symmetric: false, QuantizationMethod.Rtn).Quantize(w, 2, k);
        Assert.AreEqual(2, q.Layout.ZeroPointRowBytes);
        CollectionAssert.AreEqual(new byte[] { 0xF0, 0x00, 0xF0, 0x00 }, q.ZeroPoints);
        var back = BlockQuantizer.Dequantize(q);
        for (int i = 0; i < w.Length; i++)
            Assert.AreEqual(w[i], back[i], Math.Abs(w[i]) * 1e-6f + 1e-6f, $"value {i}");
    }

    [TestMethod]
    public void EightBitZeroPointsAreOneBytePerBlock()
    {
        var w = TinyGraphs.Gaussian(3 * 80, 5);
        var q = new BlockQuantizer(8, 32, symmetric: false).Quantize(w, 3, 80);
        Assert.AreEqual(3, q.Layout.ZeroPointRowBytes);
        Assert.HasCount(9, q.ZeroPoints!);
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void LayoutMatchesMatMulNBitsAndRaggedBlocksArePaddedWithZeroCodes(int n, int k, int block, int bits, bool symmetric)
    {
        var w = TinyGraphs.Gaussian(n * k, n * 1000 + k);
        var q = new BlockQuantizer(bits, block, symmetric).Quantize(w, n, k);
        var l = q.Layout;
        int blocks = (k + block - 1) / block;
        Assert.AreEqual((long)n * blocks * block * bits / 8, q.Data.Length);
        Assert.HasCount(n * blocks, q.Scales);
        if (symmetric)
            Assert.IsNull(q.ZeroPoints);
        else
            Assert.HasCount(n * ((blocks * bits + 7) / 8), q.ZeroPoints!);

        // An independent unpacker: dequantize, compare with BlockQuantizer.Dequantize, and check the padding.
        var expected = new float[n * k];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < blocks * block; c++)
            {
                long bit = ((long)r * blocks * block + c) * bits;
                int code = (q.Data[bit / 8] >> (int)(bit % 8)) & ((1 << bits) - 1);
                int b = c / block;
                int zero = symmetric ? 1 << (bits - 1) : ZeroPoint(q.ZeroPoints!, r, b, blocks, bits);
                if (c >= k)
                    Assert.AreEqual(zero, code, $"row {r}: padding column {c} must hold the zero code");
                else
                    expected[r * k + c] = (code - zero) * q.Scales[r * blocks + b];
            }
        CollectionAssert.AreEqual(expected, BlockQuantizer.Dequantize(q));

        // Every value is near its original: within one step (RTN clips at most one step on the short side).
        var back = BlockQuantizer.Dequantize(q);
        for (int i = 0; i < w.Length; i++)
        {
            float step = Math.Abs(q.Scales[(i / k) * blocks + (i % k) / block]);
            Assert.IsLessThanOrEqualTo(step * 1.5f + 1e-6f, Math.Abs(w[i] - back[i]), $"value {i}: {w[i]} → {back[i]} (step {step})");
        }
        Assert.AreEqual(l.DataBytes, q.Data.Length);
    }

    private static int ZeroPoint(byte[] zeroPoints, int row, int block, int blocks, int bits)
    {
        int rowBytes = (blocks * bits + 7) / 8;
        long bit = (long)block * bits;
        return (zeroPoints[row * rowBytes + bit / 8] >> (int)(bit % 8)) & ((1 << bits) - 1);
    }

    [TestMethod]
    [DynamicData(nameof(Variants))]
    public void ZeroBlocksGetZeroScaleAndDequantizeToZero(int bits, bool symmetric, QuantizationMethod method)
    {
        var w = new float[2 * 64];
        for (int i = 32; i < 64; i++)
            w[i] = i * 0.01f;   // row 0: a zero block then a non-zero one; row 1 all zero
        var q = new BlockQuantizer(bits, 32, symmetric, method).Quantize(w, 2, 64);
        Assert.AreEqual(0f, q.Scales[0]);
        Assert.AreEqual(0f, q.Scales[2]);
        Assert.AreEqual(0f, q.Scales[3]);
        var back = BlockQuantizer.Dequantize(q);
        for (int i = 64; i < 128; i++)
            Assert.AreEqual(0f, back[i]);
        for (int i = 0; i < 32; i++)
            Assert.AreEqual(0f, back[i]);
    }

    [TestMethod]
    public void MseSearchNeverLosesToRtnOnABlock()
    {
        foreach (int bits in new[] { 4, 8 })
            foreach (bool symmetric in new[] { true, false })
                for (int seed = 0; seed < 200; seed++)
                {
                    var x = TinyGraphs.Gaussian(32, seed);
                    if (seed % 3 == 0) x[seed % 32] *= 6;   // an outlier
                    double rtn = Error(x, new BlockQuantizer(bits, 32, symmetric, QuantizationMethod.Rtn).Quantize(x, 1, 32));
                    double mse = Error(x, new BlockQuantizer(bits, 32, symmetric, QuantizationMethod.MseSearch).Quantize(x, 1, 32));
                    Assert.IsLessThanOrEqualTo(rtn * (1 + 1e-5) + 1e-12, mse, $"bits {bits}, symmetric {symmetric}, seed {seed}");
                }
    }

    private static double Error(float[] x, QuantizedMatrix q)
    {
        var back = BlockQuantizer.Dequantize(q);
        return x.Select((v, i) => (double)(v - back[i]) * (v - back[i])).Sum();
    }

    [TestMethod]
    public void ParallelAndSerialQuantizationAreIdentical()
    {
        var w = TinyGraphs.Gaussian(512 * 320, 9);
        foreach (bool symmetric in new[] { true, false })
        {
            var serial = new BlockQuantizer(4, 32, symmetric, maxDegreeOfParallelism: 1).Quantize(w, 512, 320);
            var parallel = new BlockQuantizer(4, 32, symmetric).Quantize(w, 512, 320);
            CollectionAssert.AreEqual(serial.Data, parallel.Data);
            CollectionAssert.AreEqual(serial.Scales, parallel.Scales);
            if (!symmetric)
                CollectionAssert.AreEqual(serial.ZeroPoints, parallel.ZeroPoints);
        }
    }

    [TestMethod]
    public void NonFiniteWeightsAreRejectedWithTheirPosition()
    {
        var w = new float[4 * 64];
        w[2 * 64 + 40] = float.NaN;
        var e = Assert.ThrowsExactly<ArgumentException>(() => new BlockQuantizer(4, 32).Quantize(w, 4, 64));
        StringAssert.Contains(e.Message, "row 2, columns 32..63");
    }

    [TestMethod]
    public void CallerBuffersAreCheckedAndOnlyTheirPrefixIsWritten()
    {
        var w = TinyGraphs.Gaussian(4 * 64, 3);
        var q = new BlockQuantizer(4, 32);
        var data = new byte[4 * 2 * 16 + 5];
        var scales = new float[8 + 1];
        data[^1] = 0xAB;
        scales[^1] = 42;
        q.Quantize(w, 4, 64, data, scales, []);
        Assert.AreEqual(0xAB, data[^1]);
        Assert.AreEqual(42f, scales[^1]);
        CollectionAssert.AreEqual(q.Quantize(w, 4, 64).Data, data[..^5]);
        Assert.ThrowsExactly<ArgumentException>(() => q.Quantize(w, 4, 64, new byte[10], scales, []));
        Assert.ThrowsExactly<ArgumentException>(() => q.Quantize(w, 4, 63, data, scales, []));
        Assert.ThrowsExactly<ArgumentException>(() => new BlockQuantizer(4, 32, symmetric: false).Quantize(w, 4, 64, data, scales, new byte[3]));
    }

    [TestMethod]
    [DataRow(4, 24, "power of two")]
    [DataRow(4, 8, "power of two")]
    [DataRow(4, 512, "power of two")]
    [DataRow(3, 32, "bits must be 4 or 8")]
    public void InvalidQuantizerSettingsAreRejected(int bits, int block, string message)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new BlockQuantizer(bits, block));
        StringAssert.Contains(e.Message, message);
    }
}
