using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace OpenWeights.Onnx.Quantization;

/// <summary>How each block's scale (and zero point) is chosen.</summary>
public enum QuantizationMethod
{
    /// <summary>
    /// Round to nearest from the block's range: symmetric maps the value of largest magnitude to the most
    /// negative code (scale = max / −2^(bits−1), ORT's and llama.cpp Q4_0's choice); asymmetric spans
    /// [min(x, 0), max(x, 0)] with 2^bits − 1 steps.
    /// </summary>
    Rtn,

    /// <summary>
    /// Tries a grid of candidate scales around the RTN one (both polarities when symmetric, several zero points
    /// when asymmetric), fits the least-squares scale for each candidate's codes and keeps the one with the least
    /// squared error. The RTN codes are among the candidates, so its error is never larger than RTN's.
    /// </summary>
    MseSearch,
}

/// <summary>A quantized matrix in MatMulNBits' layout (see <see cref="BlockLayout"/>).</summary>
/// <param name="ZeroPoints">Packed zero points; null for symmetric quantization (implied 2^(bits−1)).</param>
public sealed record QuantizedMatrix(BlockLayout Layout, byte[] Data, float[] Scales, byte[]? ZeroPoints);

/// <summary>
/// Block-wise weight quantization for <c>com.microsoft.MatMulNBits</c> (and <c>GatherBlockQuantized</c>,
/// which reads the same bytes). Input is a float32 matrix W [N = out, K = in], row-major — what
/// <c>WeightReader.Matrix(w, inputMajor: false, ...)</c> returns. Each row is cut into blocks of
/// <see cref="BlockSize"/> along K (the last one zero-padded); each block gets a float scale and, when
/// asymmetric, a zero point; values are stored as codes c ∈ [0, 2^bits − 1] meaning (c − zero_point)·scale.
/// 4-bit codes are packed two per byte, the first in the low nibble. Rows are quantized in parallel;
/// the per-block search is vectorised. The instance is immutable and thread-safe.
/// </summary>
public sealed class BlockQuantizer
{
    /// <summary>
    /// The candidates <see cref="QuantizationMethod.MseSearch"/> tries, tuned on Gaussian and fortune-llama weights
    /// (relative RMS error within 0.1 % of a 2× denser grid). Symmetric: the extreme value's target code magnitude,
    /// relative to 2^(bits−1), toward the negative end and (8-bit) also the positive end. Asymmetric: fractions of
    /// the [min, max] range, with the zero point anchored at the low end and (4-bit) also at the high end.
    /// </summary>
    private sealed record SearchPlan(float[] Grid, bool BothEnds, int ZeroCandidates);

    private static readonly SearchPlan Symmetric4 = new(Grid(30, 44, 40), BothEnds: false, 1);     // 0.75 … 1.10 by 0.025
    private static readonly SearchPlan Symmetric8 = new(Grid(72, 84, 80), BothEnds: true, 1);      // 0.90 … 1.05 by 0.0125
    private static readonly SearchPlan Asymmetric4 = new(Grid(28, 40, 40), false, ZeroCandidates: 2); // 0.70 … 1.00 by 0.025
    private static readonly SearchPlan Asymmetric8 = new(Grid(34, 40, 40), false, ZeroCandidates: 1); // 0.85 … 1.00 by 0.025

    private readonly SearchPlan _plan;

    /// <summary>Below this many weights a matrix is quantized on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 16;

    public BlockQuantizer(int bits, int blockSize, bool symmetric = true,
        QuantizationMethod method = QuantizationMethod.MseSearch, int maxDegreeOfParallelism = -1)
    {
        QuantizationChecks.ThrowIfInvalid(bits, blockSize);
        if (!Enum.IsDefined(method))
            throw new ArgumentException($"unknown quantization method {method}.", nameof(method));
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentException($"max degree of parallelism must be -1 (all cores) or ≥ 1; got {maxDegreeOfParallelism}.", nameof(maxDegreeOfParallelism));
        Bits = bits;
        BlockSize = blockSize;
        Symmetric = symmetric;
        Method = method;
        MaxDegreeOfParallelism = maxDegreeOfParallelism;
        _plan = (symmetric, bits) switch
        {
            (true, 4) => Symmetric4,
            (true, _) => Symmetric8,
            (false, 4) => Asymmetric4,
            _ => Asymmetric8,
        };
    }

    public int Bits { get; }
    public int BlockSize { get; }
    /// <summary>No zero points: the implied zero point is 2^(bits−1) (8 for 4 bits, 128 for 8 bits).</summary>
    public bool Symmetric { get; }
    public QuantizationMethod Method { get; }
    public int MaxDegreeOfParallelism { get; }

    public BlockLayout Layout(int rows, int columns) => new(rows, columns, Bits, BlockSize);

    /// <summary>Quantizes into new arrays.</summary>
    public QuantizedMatrix Quantize(ReadOnlySpan<float> weight, int rows, int columns)
    {
        var layout = Layout(rows, columns);
        var data = new byte[layout.DataBytes];
        var scales = new float[layout.ScaleCount];
        var zeroPoints = Symmetric ? null : new byte[layout.ZeroPointBytes];
        Quantize(weight, rows, columns, data, scales, zeroPoints);
        return new QuantizedMatrix(layout, data, scales, zeroPoints);
    }

    /// <summary>
    /// Quantizes W [rows, columns] into caller-owned buffers of at least <see cref="BlockLayout.DataBytes"/>,
    /// <see cref="BlockLayout.ScaleCount"/> and (asymmetric only) <see cref="BlockLayout.ZeroPointBytes"/>
    /// elements; only those leading elements are written.
    /// </summary>
    public unsafe void Quantize(ReadOnlySpan<float> weight, int rows, int columns,
        Span<byte> data, Span<float> scales, Span<byte> zeroPoints)
    {
        var layout = Layout(rows, columns);
        if (weight.Length != layout.Elements)
            throw new ArgumentException($"weight has {weight.Length} values; [{rows}, {columns}] needs {layout.Elements}.", nameof(weight));
        if (data.Length < layout.DataBytes)
            throw new ArgumentException($"data buffer has {data.Length} bytes; {layout.DataBytes} are needed.", nameof(data));
        if (scales.Length < layout.ScaleCount)
            throw new ArgumentException($"scales buffer has {scales.Length} values; {layout.ScaleCount} are needed.", nameof(scales));
        if (!Symmetric && zeroPoints.Length < layout.ZeroPointBytes)
            throw new ArgumentException($"zero-point buffer has {zeroPoints.Length} bytes; {layout.ZeroPointBytes} are needed.", nameof(zeroPoints));

        fixed (float* w = weight)
        fixed (byte* d = data)
        fixed (float* s = scales)
        fixed (byte* z = zeroPoints)
        {
            var job = new Job(this, layout, (nint)w, (nint)d, (nint)s, Symmetric ? 0 : (nint)z);
            if (layout.Elements < ParallelThreshold || MaxDegreeOfParallelism == 1 || Environment.ProcessorCount == 1)
            {
                job.Rows(0, rows);
                return;
            }
            // Chunks of at least ~32 k weights, several per core so uneven cores still finish together.
            int rowsPerChunk = (int)Math.Clamp((1L << 15) / columns, 1, Math.Max(1, rows / (4 * Environment.ProcessorCount)));
            int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = MaxDegreeOfParallelism },
                c => job.Rows(c * rowsPerChunk, Math.Min(rows, (c + 1) * rowsPerChunk)));
        }
    }

    /// <summary>The pinned buffers of one <see cref="Quantize(ReadOnlySpan{float}, int, int, Span{byte}, Span{float}, Span{byte})"/> call.</summary>
    private readonly unsafe struct Job(BlockQuantizer q, BlockLayout layout, nint weight, nint data, nint scales, nint zeroPoints)
    {
        public void Rows(int first, int end)
        {
            int bs = layout.BlockSize, k = layout.Columns, blocks = layout.BlocksPerRow, blob = layout.BlobSize;
            Span<float> x = stackalloc float[bs];
            Span<byte> codes = stackalloc byte[bs];
            for (int r = first; r < end; r++)
            {
                var row = new ReadOnlySpan<float>((float*)weight + (long)r * k, k);
                var rowData = new Span<byte>((byte*)data + (long)r * layout.RowBytes, layout.RowBytes);
                var rowScales = new Span<float>((float*)scales + (long)r * blocks, blocks);
                Span<byte> rowZeros = zeroPoints == 0 ? default
                    : new Span<byte>((byte*)zeroPoints + (long)r * layout.ZeroPointRowBytes, layout.ZeroPointRowBytes);
                rowZeros.Clear();
                for (int b = 0; b < blocks; b++)
                {
                    int start = b * bs, length = Math.Min(bs, k - start);
                    row.Slice(start, length).CopyTo(x);
                    x[length..].Clear();
                    if (!q.QuantizeBlock(x, codes, out float scale, out int zero))
                        throw new ArgumentException($"weight row {r}, columns {start}..{start + length - 1} hold a NaN or infinity; it cannot be quantized.");
                    rowScales[b] = scale;
                    Pack(codes, rowData.Slice(b * blob, blob), layout.Bits);
                    if (zeroPoints != 0)
                        PackZeroPoint(rowZeros, b, zero, layout.Bits);
                }
            }
        }
    }

    /// <summary>
    /// Quantizes one zero-padded block of <see cref="BlockSize"/> values: codes in [0, 2^bits − 1], the
    /// scale and the zero point. False if the block is not finite.
    /// </summary>
    internal bool QuantizeBlock(ReadOnlySpan<float> x, Span<byte> codes, out float scale, out int zero)
    {
        float max = TensorPrimitives.Max(x), min = TensorPrimitives.Min(x);
        if (!float.IsFinite(max) || !float.IsFinite(min))
        {
            scale = 0; zero = 0;
            return false;
        }
        int maxCode = (1 << Bits) - 1;
        float inverse;
        if (Symmetric)
        {
            zero = 1 << (Bits - 1);
            float extreme = max >= -min ? max : min;   // signed value of largest magnitude
            inverse = extreme == 0 ? 0 : -zero / extreme;
            if (!float.IsFinite(inverse) || inverse == 0)
                return Zero(codes, zero, out scale);
            scale = 1 / inverse;
            if (Method == QuantizationMethod.MseSearch)
                (inverse, scale) = SearchSymmetric(x, extreme, zero, maxCode);
        }
        else
        {
            float lo = Math.Min(min, 0), hi = Math.Max(max, 0);
            zero = 0;
            scale = (hi - lo) / maxCode;
            inverse = maxCode / (hi - lo);
            if (hi == lo || !float.IsFinite(inverse))
                return Zero(codes, zero, out scale);
            zero = Math.Clamp((int)MathF.Round(-lo * inverse), 0, maxCode);
            if (Method == QuantizationMethod.MseSearch)
                (inverse, scale, zero) = SearchAsymmetric(x, lo, hi, maxCode);
        }
        Encode(x, inverse, zero, maxCode, codes);
        return true;
    }

    private static bool Zero(Span<byte> codes, int zero, out float scale)
    {
        codes.Fill((byte)zero);
        scale = 0;
        return true;
    }

    /// <summary>Symmetric: the extreme value mapped near either end of the code range; least-squares scale for each.</summary>
    private (float Inverse, float Scale) SearchSymmetric(ReadOnlySpan<float> x, float extreme, int zero, int maxCode)
    {
        float bestScore = -1, bestInverse = 0, bestScale = 0;
        foreach (float end in (ReadOnlySpan<float>)[-zero, zero - 1])
        {
            if (end > 0 && !_plan.BothEnds)
                break;
            foreach (float f in _plan.Grid)
            {
                float inverse = end * f / extreme;
                var (sxd, sdd) = Evaluate(x, inverse, zero, maxCode);
                Consider(sxd, sdd, inverse, ref bestScore, ref bestInverse, ref bestScale);
            }
        }
        Refine(x, zero, maxCode, ref bestScore, ref bestInverse, ref bestScale);
        return (bestInverse, bestScale);
    }

    /// <summary>Asymmetric: shrunken ranges, each with the zero point anchored at the low end (and the high end).</summary>
    private (float Inverse, float Scale, int Zero) SearchAsymmetric(ReadOnlySpan<float> x, float lo, float hi, int maxCode)
    {
        float bestScore = -1, bestInverse = 0, bestScale = 0;
        int bestZero = 0;
        Span<int> zeros = stackalloc int[2];
        foreach (float f in _plan.Grid)
        {
            float inverse = maxCode / ((hi - lo) * f);
            if (!float.IsFinite(inverse))
                continue;
            zeros[0] = Math.Clamp((int)MathF.Round(-lo * inverse), 0, maxCode);
            zeros[1] = Math.Clamp(maxCode - (int)MathF.Round(hi * inverse), 0, maxCode);
            for (int i = 0; i < _plan.ZeroCandidates; i++)
            {
                if (i > 0 && zeros[i] == zeros[0])
                    continue;
                var (sxd, sdd) = Evaluate(x, inverse, zeros[i], maxCode);
                float before = bestScore;
                Consider(sxd, sdd, inverse, ref bestScore, ref bestInverse, ref bestScale);
                if (bestScore != before)
                    bestZero = zeros[i];
            }
        }
        Refine(x, bestZero, maxCode, ref bestScore, ref bestInverse, ref bestScale);
        return (bestInverse, bestScale, bestZero);
    }

    /// <summary>Re-rounds with the fitted scale while that lowers the error (at most twice).</summary>
    private static void Refine(ReadOnlySpan<float> x, int zero, int maxCode, ref float bestScore, ref float bestInverse, ref float bestScale)
    {
        for (int i = 0; i < 2 && bestScale != 0; i++)
        {
            float inverse = 1 / bestScale;
            if (!float.IsFinite(inverse))
                return;
            var (sxd, sdd) = Evaluate(x, inverse, zero, maxCode);
            float before = bestScore;
            Consider(sxd, sdd, inverse, ref bestScore, ref bestInverse, ref bestScale);
            if (bestScore == before)
                return;
        }
    }

    /// <summary>
    /// For codes d (zero point removed) the least-squares scale is Σxd/Σd², leaving error Σx² − (Σxd)²/Σd²:
    /// the larger (Σxd)²/Σd², the better.
    /// </summary>
    private static void Consider(float sxd, float sdd, float inverse, ref float bestScore, ref float bestInverse, ref float bestScale)
    {
        if (sdd <= 0)
            return;
        float score = sxd * sxd / sdd;
        if (score > bestScore)
        {
            bestScore = score;
            bestInverse = inverse;
            bestScale = sxd / sdd;
        }
    }

    /// <summary>
    /// Σ x·d and Σ d² for d = clamp(round(x·inverse), −zero, maxCode − zero), i.e. the code
    /// clamp(round(x·inverse) + zero, 0, maxCode) with the zero point removed. The hot loop of the search.
    /// </summary>
    internal static (float Sxd, float Sdd) Evaluate(ReadOnlySpan<float> x, float inverse, int zero, int maxCode)
    {
        ref float p = ref MemoryMarshal.GetReference(x);
        float sxd = 0, sdd = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            var vInverse = Vector256.Create(inverse);
            var lo = Vector256.Create((float)-zero);
            var hi = Vector256.Create((float)(maxCode - zero));
            Vector256<float> accXd = Vector256<float>.Zero, accDd = Vector256<float>.Zero;
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)i);
                var d = Vector256.Min(Vector256.Max(Vector256.Round(v * vInverse), lo), hi);
                accXd += v * d;
                accDd += d * d;
            }
            sxd = Vector256.Sum(accXd);
            sdd = Vector256.Sum(accDd);
        }
        for (; i < x.Length; i++)
        {
            float v = Unsafe.Add(ref p, i);
            float d = Math.Clamp(MathF.Round(v * inverse), -zero, maxCode - zero);
            sxd += v * d;
            sdd += d * d;
        }
        return (sxd, sdd);
    }

    /// <summary>codes = clamp(round(x·inverse), −zero, maxCode − zero) + zero, rounded as in <see cref="Evaluate"/>.</summary>
    private static void Encode(ReadOnlySpan<float> x, float inverse, int zero, int maxCode, Span<byte> codes)
    {
        for (int i = 0; i < x.Length; i++)
            codes[i] = (byte)(Math.Clamp(MathF.Round(x[i] * inverse), -zero, maxCode - zero) + zero);
    }

    /// <summary>Bit-packs a block's codes: 8 bits as they are; 4 bits two per byte, the first in the low nibble.</summary>
    internal static void Pack(ReadOnlySpan<byte> codes, Span<byte> blob, int bits)
    {
        if (bits == 8)
        {
            codes.CopyTo(blob);
            return;
        }
        for (int j = 0; j < blob.Length; j++)
            blob[j] = (byte)((codes[2 * j] & 0xF) | (codes[2 * j + 1] << 4));
    }

    private static void PackZeroPoint(Span<byte> rowZeros, int block, int zero, int bits)
    {
        if (bits == 8)
            rowZeros[block] = (byte)zero;
        else
            rowZeros[block >> 1] |= (byte)((zero & 0xF) << ((block & 1) * 4));
    }

    /// <summary>The code stored for element <paramref name="index"/> of a row's packed bytes.</summary>
    public static int Code(ReadOnlySpan<byte> packed, long index, int bits) =>
        bits == 8 ? packed[(int)index] : (packed[(int)(index >> 1)] >> (int)((index & 1) * 4)) & 0xF;

    /// <summary>Reference dequantization, plain scalar code: W[n, k] = (code − zero_point)·scale.</summary>
    public static void Dequantize(BlockLayout layout, ReadOnlySpan<byte> data, ReadOnlySpan<float> scales,
        ReadOnlySpan<byte> zeroPoints, Span<float> weight)
    {
        if (weight.Length != layout.Elements)
            throw new ArgumentException($"weight has {weight.Length} values; {layout.Elements} are needed.", nameof(weight));
        int bs = layout.BlockSize;
        for (int n = 0; n < layout.Rows; n++)
        {
            var rowData = data.Slice(n * layout.RowBytes, layout.RowBytes);
            for (int k = 0; k < layout.Columns; k++)
            {
                int block = k / bs;
                int code = Code(rowData, k, layout.Bits);
                int zero = zeroPoints.IsEmpty
                    ? layout.DefaultZeroPoint
                    : Code(zeroPoints.Slice(n * layout.ZeroPointRowBytes, layout.ZeroPointRowBytes), block, layout.Bits);
                weight[n * layout.Columns + k] = (code - zero) * scales[n * layout.BlocksPerRow + block];
            }
        }
    }

    public static float[] Dequantize(QuantizedMatrix m)
    {
        var weight = new float[m.Layout.Elements];
        Dequantize(m.Layout, m.Data, m.Scales, m.ZeroPoints, weight);
        return weight;
    }

    /// <summary>i / denominator for i in [from, to]: exact ratios, so 1 (the RTN candidate) is exactly 1.</summary>
    private static float[] Grid(int from, int to, int denominator) =>
        Enumerable.Range(from, to - from + 1).Select(i => (float)i / denominator).ToArray();
}
