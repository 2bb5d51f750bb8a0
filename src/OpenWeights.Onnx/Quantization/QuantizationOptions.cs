namespace OpenWeights.Onnx.Quantization;

/// <summary>How the token table (Gather) is stored.</summary>
public enum EmbeddingPrecision
{
    /// <summary>The float table (storage precision), read by a plain Gather.</summary>
    Float,
    /// <summary>8-bit blocks read by <c>GatherBlockQuantized</c>.</summary>
    Int8,
    /// <summary>4-bit blocks read by <c>GatherBlockQuantized</c>.</summary>
    Int4,
}

/// <summary>
/// What block quantization produces: the body's bits and block size, the LM head's and token table's
/// precision, and the MatMulNBits compute mode. Checked by <see cref="Validate"/> before any work starts.
/// </summary>
public sealed record QuantizationOptions
{
    /// <summary>Bits of every linear layer but the LM head: 4 or 8.</summary>
    public int Bits { get; init; } = 4;

    /// <summary>Weights per block (one scale each) along the input axis: a power of two from 16 to 256.</summary>
    public int BlockSize { get; init; } = 32;

    /// <summary>No zero points (implied 2^(bits−1)); asymmetric stores a uint8 zero point per block.</summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>
    /// MatMulNBits <c>accuracy_level</c>: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 activations. On CPU level 4
    /// is the fast path (level 0 decodes ~15× slower on AVX2 without VNNI), at negligible quality cost.
    /// </summary>
    public int AccuracyLevel { get; init; } = 4;

    public QuantizationMethod Method { get; init; } = QuantizationMethod.MseSearch;

    /// <summary>
    /// ONNX Runtime's QMoE needs the hidden and expert sizes to be multiples of one block size. When set, experts
    /// whose sizes are not use the largest power of two below <see cref="BlockSize"/> that divides both (recorded
    /// in the node's <c>block_size</c>); when not set, such experts are refused. Set by the defaults only: a block
    /// size the user chose is kept or refused, never changed.
    /// </summary>
    public bool FitExpertBlocks { get; init; }

    /// <summary>
    /// Bits of the LM head (untied, or the tied table when it is used as the head): 4 or 8, or null to keep it
    /// float. The head dominates INT4 error; INT8 there is as good as float for little size.
    /// </summary>
    public int? LmHeadBits { get; init; } = 8;

    /// <summary>
    /// The token table. Quantized, it is read by GatherBlockQuantized; with tied embeddings that one quantized
    /// table also serves the head (at the table's bits, <see cref="LmHeadBits"/> then does not apply).
    /// Float with tied embeddings: the head gets its own quantized copy at <see cref="LmHeadBits"/>.
    /// </summary>
    public EmbeddingPrecision Embedding { get; init; } = EmbeddingPrecision.Float;

    /// <summary>Threads used to quantize one matrix: −1 for all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Defaults for 4-bit: INT4 body, INT8 head, float token table, MSE-searched symmetric scales, block 32.</summary>
    public static QuantizationOptions Int4 { get; } = new();

    /// <summary>
    /// Defaults for 8-bit: INT8 everywhere but the float token table, in blocks of 128 (quality as good as
    /// blocks of 32 — sample perplexity +0.02 % — with fewer scales to read per token).
    /// </summary>
    public static QuantizationOptions Int8 { get; } = new() { Bits = 8, BlockSize = 128, LmHeadBits = 8 };

    /// <summary>Bits of the token table, or null when it stays float.</summary>
    public int? EmbeddingBits => Embedding switch
    {
        EmbeddingPrecision.Int8 => 8,
        EmbeddingPrecision.Int4 => 4,
        _ => null,
    };

    /// <summary>Every problem at once, as specific messages; empty when the options are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (QuantizationChecks.BitsError(Bits) is { } bits)
            problems.Add(bits);
        if (QuantizationChecks.BlockSizeError(BlockSize) is { } block)
            problems.Add(block);
        if (AccuracyLevel is < 0 or > 4)
            problems.Add($"accuracy level must be 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8); got {AccuracyLevel}.");
        if (!Enum.IsDefined(Method))
            problems.Add($"unknown quantization method {(int)Method}; use {QuantizationMethod.Rtn} or {QuantizationMethod.MseSearch}.");
        if (LmHeadBits is { } head && QuantizationChecks.BitsError(head) is not null)
            problems.Add($"LM head bits must be 4 or 8, or unset to keep the head float; got {head}.");
        if (!Enum.IsDefined(Embedding))
            problems.Add($"unknown embedding precision {(int)Embedding}; use float, int8 or int4.");
        if (MaxDegreeOfParallelism == 0 || MaxDegreeOfParallelism < -1)
            problems.Add($"max degree of parallelism must be -1 (all cores) or at least 1; got {MaxDegreeOfParallelism}.");
        return problems;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem.</summary>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0)
            throw new ArgumentException(string.Join(" ", problems));
    }

    /// <summary>The quantizer for weights stored at <paramref name="bits"/> bits with these options.</summary>
    public BlockQuantizer Quantizer(int bits) => Quantizer(bits, BlockSize);

    public BlockQuantizer Quantizer(int bits, int blockSize) => new(bits, blockSize, Symmetric, Method, MaxDegreeOfParallelism);

    /// <summary>
    /// The block size for experts of <paramref name="hidden"/> × <paramref name="intermediate"/>: <see cref="BlockSize"/>,
    /// or with <see cref="FitExpertBlocks"/> the largest power of two not above it that divides both (at least
    /// <see cref="QuantizationChecks.MinBlockSize"/>; below that the block size stays and QMoE refuses the shape).
    /// </summary>
    public int ExpertBlockSize(int hidden, int intermediate)
    {
        if (!FitExpertBlocks)
            return BlockSize;
        int block = BlockSize;
        while (block > QuantizationChecks.MinBlockSize && (hidden % block != 0 || intermediate % block != 0))
            block /= 2;
        return hidden % block == 0 && intermediate % block == 0 ? block : BlockSize;
    }
}
