namespace OpenWeights.Onnx.Families;

/// <summary>
/// A weight as the checkpoint stores it: a tensor name, optionally a slice of its output rows (fused
/// projections such as Phi-3's <c>qkv_proj</c>), and whether it is stored [in, out] (GPT-2's Conv1D)
/// rather than the usual [out, in].
/// </summary>
public sealed record WeightRef(string Tensor, int OutputStart = 0, int? OutputCount = null, bool StoredInputMajor = false)
{
    public WeightRef Rows(int start, int count) => this with { OutputStart = start, OutputCount = count };
    public override string ToString() =>
        OutputCount is { } n ? $"{Tensor}[{OutputStart}:{OutputStart + n}]" : Tensor;
}

public sealed record LinearWeights(WeightRef Weight, WeightRef? Bias = null);

public sealed record NormWeights(WeightRef Weight, WeightRef? Bias = null);

public sealed record LayerWeights
{
    public required NormWeights AttentionNorm { get; init; }
    public required LinearWeights Q { get; init; }
    public required LinearWeights K { get; init; }
    public required LinearWeights V { get; init; }
    public required LinearWeights O { get; init; }
    public NormWeights? QNorm { get; init; }
    public NormWeights? KNorm { get; init; }
    /// <summary>Norm of the attention output before the residual add (Gemma 2's post_attention_layernorm).</summary>
    public NormWeights? PostAttentionNorm { get; init; }
    /// <summary>The norm in front of the MLP (Llama's post_attention_layernorm, Gemma 2's pre_feedforward_layernorm).</summary>
    public required NormWeights MlpNorm { get; init; }
    /// <summary>Null for an ungated MLP.</summary>
    public LinearWeights? Gate { get; init; }
    public required LinearWeights Up { get; init; }
    public required LinearWeights Down { get; init; }
    /// <summary>Norm of the MLP output before the residual add (Gemma 2's post_feedforward_layernorm).</summary>
    public NormWeights? PostMlpNorm { get; init; }
}

/// <summary>Where every weight of a decoder lives in the checkpoint.</summary>
public sealed record DecoderWeights
{
    public required WeightRef TokenEmbedding { get; init; }
    /// <summary>Learned absolute positions [positions, hidden] (GPT-2's wpe), indexed by cumsum(mask) − 1.</summary>
    public WeightRef? PositionEmbedding { get; init; }
    public required IReadOnlyList<LayerWeights> Layers { get; init; }
    public required NormWeights FinalNorm { get; init; }
    /// <summary>Null when the head is tied to <see cref="TokenEmbedding"/>.</summary>
    public LinearWeights? LmHead { get; init; }
}
