namespace OpenWeights.Onnx.Quantization;

/// <summary>
/// The sizes of one block-quantized matrix W [<see cref="Rows"/> = N = out, <see cref="Columns"/> = K = in]
/// in <c>com.microsoft.MatMulNBits</c>'s layout: B uint8 [N, k_blocks, blob_size] (each row's last block
/// zero-padded), scales [N, k_blocks], packed zero points [N, ceil(k_blocks·bits/8)].
/// </summary>
public readonly record struct BlockLayout
{
    public BlockLayout(int rows, int columns, int bits, int blockSize)
    {
        if (rows <= 0 || columns <= 0)
            throw new ArgumentException($"a quantized matrix needs at least one row and one column; got [{rows}, {columns}].");
        QuantizationChecks.ThrowIfInvalid(bits, blockSize);
        Rows = rows;
        Columns = columns;
        Bits = bits;
        BlockSize = blockSize;
    }

    /// <summary>N: output features.</summary>
    public int Rows { get; }
    /// <summary>K: input features, the axis blocks run along.</summary>
    public int Columns { get; }
    public int Bits { get; }
    public int BlockSize { get; }

    /// <summary>k_blocks = ceil(K / block_size).</summary>
    public int BlocksPerRow => (Columns + BlockSize - 1) / BlockSize;
    /// <summary>Bytes of one block: block_size·bits/8.</summary>
    public int BlobSize => BlockSize * Bits / 8;
    public int RowBytes => BlocksPerRow * BlobSize;
    public long DataBytes => (long)Rows * RowBytes;
    public long ScaleCount => (long)Rows * BlocksPerRow;
    /// <summary>Packed zero-point bytes per row: ceil(k_blocks·bits/8).</summary>
    public int ZeroPointRowBytes => (BlocksPerRow * Bits + 7) / 8;
    public long ZeroPointBytes => (long)Rows * ZeroPointRowBytes;
    /// <summary>The zero point MatMulNBits implies when none is given: 2^(bits−1).</summary>
    public int DefaultZeroPoint => 1 << (Bits - 1);
    /// <summary>Largest stored code: 2^bits − 1.</summary>
    public int MaxCode => (1 << Bits) - 1;
    public long Elements => (long)Rows * Columns;

    /// <summary>MatMulNBits' B dimensions.</summary>
    public long[] DataDims => [Rows, BlocksPerRow, BlobSize];
    public long[] ScaleDims => [Rows, BlocksPerRow];
    public long[] ZeroPointDims => [Rows, ZeroPointRowBytes];
}

/// <summary>The checks shared by <see cref="BlockQuantizer"/> and <see cref="QuantizationOptions"/>.</summary>
internal static class QuantizationChecks
{
    public const int MinBlockSize = 16;
    public const int MaxBlockSize = 256;

    public static string? BitsError(int bits) =>
        bits is 4 or 8 ? null : $"quantization bits must be 4 or 8; got {bits}.";

    public static string? BlockSizeError(int blockSize) =>
        blockSize is >= MinBlockSize and <= MaxBlockSize && (blockSize & (blockSize - 1)) == 0
            ? null
            : $"quantization block size must be a power of two from {MinBlockSize} to {MaxBlockSize} (16, 32, 64, 128 or 256); got {blockSize}.";

    public static void ThrowIfInvalid(int bits, int blockSize)
    {
        if (BitsError(bits) is { } b)
            throw new ArgumentException(b, nameof(bits));
        if (BlockSizeError(blockSize) is { } s)
            throw new ArgumentException(s, nameof(blockSize));
    }
}
