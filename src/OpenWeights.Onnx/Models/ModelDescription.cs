namespace OpenWeights.Onnx.Models;

public enum NormKind
{
    /// <summary>x̂·w (Llama, Mistral, Qwen, Phi-3).</summary>
    RmsNorm,
    /// <summary>x̂·(1+w): the weight is stored as an offset from one (Gemma).</summary>
    RmsNormPlusOne,
    /// <summary>(x−μ)/σ·w + b (GPT-2).</summary>
    LayerNorm,
}

public enum Activation
{
    Silu,
    GeluTanh,
    Gelu,
}

/// <summary>
/// What a decoder-only transformer computes, independent of how its checkpoint names things.
/// Families (in <c>converters/</c>) fill this from <c>config.json</c>; the graph builder reads only this.
/// </summary>
public sealed record ModelDescription
{
    /// <summary>The Hugging Face class, e.g. <c>LlamaForCausalLM</c>.</summary>
    public required string Architecture { get; init; }
    /// <summary>The <c>model.type</c> that onnxruntime-genai knows this family by.</summary>
    public required string GenAiType { get; init; }

    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    /// <summary>Longest sequence the model was trained for (<c>max_position_embeddings</c>).</summary>
    public required int ContextLength { get; init; }

    public required NormKind Norm { get; init; }
    public required float NormEpsilon { get; init; }
    public required Activation Activation { get; init; }
    /// <summary>act(gate)·up (Llama) rather than act(fc) (GPT-2).</summary>
    public bool GatedMlp { get; init; } = true;

    /// <summary>Null for models with learned absolute positions (GPT-2).</summary>
    public RotaryEmbedding? Rotary { get; init; }
    public bool LearnedPositions { get; init; }

    /// <summary>Per-head RMSNorm of q and k before rotary (Qwen3).</summary>
    public bool QkNorm { get; init; }
    public bool TiedEmbeddings { get; init; }
    /// <summary>Multiply token embeddings by this (Gemma: √hidden, rounded to the model's dtype).</summary>
    public float? EmbeddingMultiplier { get; init; }
    /// <summary>Null means 1/√head_dim.</summary>
    public float? AttentionScale { get; init; }
    /// <summary>
    /// Sliding-window attention as transformers defines it: a query sees this many keys, itself included
    /// (key j is visible from query i when i − j &lt; window). Null: full causal attention.
    /// </summary>
    public int? SlidingWindow { get; init; }
    /// <summary>The layers <see cref="SlidingWindow"/> applies to; null means every layer (Gemma 2: the even ones).</summary>
    public IReadOnlyList<int>? SlidingWindowLayers { get; init; }
    /// <summary>Attention scores become c·tanh(s/c) before the softmax (Gemma 2's attn_logit_softcapping).</summary>
    public float? AttentionSoftcap { get; init; }
    /// <summary>Logits become c·tanh(x/c) (Gemma 2's final_logit_softcapping).</summary>
    public float? FinalLogitSoftcap { get; init; }

    /// <summary>Null: every layer's MLP is dense.</summary>
    public MixtureOfExperts? Experts { get; init; }
    /// <summary>The layers whose MLP is <see cref="Experts"/>; null means every layer (Qwen2-MoE: decoder_sparse_step, mlp_only_layers).</summary>
    public IReadOnlyList<int>? SparseLayers { get; init; }
    public int[] BosTokenIds { get; init; } = [];
    public int[] EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }

    public bool IsSparse(int layer) => Experts is not null && (SparseLayers is null || SparseLayers.Contains(layer));

    public bool UsesSlidingWindow(int layer) =>
        SlidingWindow is not null && (SlidingWindowLayers is null || SlidingWindowLayers.Contains(layer));

    public int QSize => NumHeads * HeadDim;
    public int KvSize => NumKvHeads * HeadDim;
}

/// <summary>
/// Top-k routing over <paramref name="Count"/> experts: softmax over the router's logits, the
/// <paramref name="PerToken"/> largest probabilities kept, divided by their sum when <paramref name="NormalizeTopK"/>
/// (Mixtral always; Qwen2-MoE by <c>norm_topk_prob</c>). Each expert is a SwiGLU MLP of width
/// <paramref name="IntermediateSize"/> (Mixtral: <c>intermediate_size</c>; Qwen2-MoE: <c>moe_intermediate_size</c>,
/// while its dense layers keep <c>intermediate_size</c>). <paramref name="SharedIntermediateSize"/>: the width of a
/// shared expert every token goes through, scaled by a sigmoid gate (Qwen2-MoE), or null.
/// </summary>
public sealed record MixtureOfExperts(int Count, int PerToken, bool NormalizeTopK, int IntermediateSize, int? SharedIntermediateSize = null);
