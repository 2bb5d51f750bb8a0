namespace OpenWeights.Onnx.Families;

/// <summary>
/// A weight as the checkpoint stores it: a tensor name, optionally one slice along the leading axis of a stacked
/// tensor (<see cref="Index"/>: expert e of an [E, out, in] stack), a slice of its output rows (fused projections
/// such as Phi-3's <c>qkv_proj</c>), and whether it is stored [in, out] (GPT-2's Conv1D) rather than [out, in].
/// </summary>
public sealed record WeightRef(string Tensor, int OutputStart = 0, int? OutputCount = null, bool StoredInputMajor = false, int? Index = null)
{
    public WeightRef Rows(int start, int count) => this with { OutputStart = start, OutputCount = count };

    /// <summary>Slice <paramref name="index"/> of the leading axis: a stacked [E, out, in] tensor's expert, a [E, out] bias's row.</summary>
    public WeightRef At(int index) => this with { Index = index };

    public override string ToString()
    {
        string name = Index is { } i ? $"{Tensor}[{i}]" : Tensor;
        return OutputCount is { } n ? $"{name}[{OutputStart}:{OutputStart + n}]" : name;
    }
}

/// <summary>
/// A group of weights. <see cref="WeightGroups.All"/> finds every <see cref="WeightRef"/> in it by walking its
/// properties, so a field added to a group is checked for existence and counted in progress without being
/// listed anywhere else.
/// </summary>
public interface IWeightGroup;

/// <summary>A linear layer: W [out, in] and an optional bias [out].</summary>
public sealed record LinearWeights(WeightRef Weight, WeightRef? Bias = null) : IWeightGroup;

/// <summary>
/// The experts of a mixture-of-experts MLP projection, in expert order: separate tensors per expert (Mixtral's
/// <c>experts.{e}.w1</c>) or slices of one stacked [E, out, in] tensor (<see cref="Stacked"/>). Written as one
/// stack by <c>IWeightFormat.ExpertStack</c>.
/// </summary>
public sealed record ExpertWeights(IReadOnlyList<LinearWeights> Experts) : IWeightGroup
{
    /// <summary>E experts stored as one [E, out, in] tensor (and optionally one [E, out] bias).</summary>
    public static ExpertWeights Stacked(WeightRef weights, int experts, WeightRef? biases = null) =>
        new(Enumerable.Range(0, experts).Select(e => new LinearWeights(weights.At(e), biases?.At(e))).ToArray());
}

/// <summary>
/// A mixture-of-experts MLP: the router (E logits per token, [E, hidden]) and the experts' gated projections,
/// expert e computing Down_e(act(Gate_e·x) ⊙ Up_e·x).
/// </summary>
public sealed record MoeWeights(LinearWeights Router, ExpertWeights Gate, ExpertWeights Up, ExpertWeights Down) : IWeightGroup
{
    /// <summary>A shared expert every token goes through besides the routed ones (Qwen2-MoE), or null.</summary>
    public SharedExpertWeights? Shared { get; init; }
}

/// <summary>
/// A shared expert: a dense SwiGLU MLP (<see cref="Gate"/>, <see cref="Up"/>, <see cref="Down"/>) whose output is
/// scaled by sigmoid(<see cref="ScaleGate"/>·x), <see cref="ScaleGate"/> being [1, hidden] (Qwen2-MoE's
/// <c>shared_expert_gate</c>).
/// </summary>
public sealed record SharedExpertWeights(LinearWeights Gate, LinearWeights Up, LinearWeights Down, LinearWeights ScaleGate) : IWeightGroup;

public sealed record NormWeights(WeightRef Weight, WeightRef? Bias = null) : IWeightGroup;

public sealed record LayerWeights : IWeightGroup
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
    /// <summary>The dense MLP's projections; null when the layer's MLP is a mixture of experts (<see cref="Experts"/>).</summary>
    public LinearWeights? Up { get; init; }
    public LinearWeights? Down { get; init; }
    /// <summary>A mixture-of-experts MLP in place of the dense one (Mixtral's <c>block_sparse_moe</c>).</summary>
    public MoeWeights? Experts { get; init; }
    /// <summary>Norm of the MLP output before the residual add (Gemma 2's post_feedforward_layernorm).</summary>
    public NormWeights? PostMlpNorm { get; init; }
}

/// <summary>Where every weight of a decoder lives in the checkpoint.</summary>
public sealed record DecoderWeights : IWeightGroup
{
    public required WeightRef TokenEmbedding { get; init; }
    /// <summary>Learned absolute positions [positions, hidden] (GPT-2's wpe), indexed by cumsum(mask) − 1.</summary>
    public WeightRef? PositionEmbedding { get; init; }
    public required IReadOnlyList<LayerWeights> Layers { get; init; }
    public required NormWeights FinalNorm { get; init; }
    /// <summary>Null when the head is tied to <see cref="TokenEmbedding"/>.</summary>
    public LinearWeights? LmHead { get; init; }
}
