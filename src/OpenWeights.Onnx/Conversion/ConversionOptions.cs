using OpenWeights.Onnx.Quantization;

namespace OpenWeights.Onnx.Conversion;

public enum Precision { Fp32, Fp16, Int8, Int4 }

/// <summary>A PEFT adapter folder to merge, its own scale (α/r) multiplied by <paramref name="Scale"/>.</summary>
public sealed record AdapterMerge(string Directory, float Scale = 1f);

/// <summary>What to produce. Validated before any work starts.</summary>
public sealed record ConversionOptions
{
    public Precision Precision { get; init; } = Precision.Fp32;
    public ExecutionTarget Target { get; init; } = ExecutionTarget.Cpu;
    /// <summary>Replace an existing output folder (atomically, only once the new one is complete).</summary>
    public bool Overwrite { get; init; }
    /// <summary>
    /// Convert weights holding NaN or ±Inf (reported in <see cref="ConversionResult.NonFiniteTensors"/>) instead of
    /// refusing them; such a model usually produces garbage, so this is for inspecting broken checkpoints.
    /// </summary>
    public bool AllowNonFinite { get; init; }
    /// <summary>
    /// Block quantization settings for int8/int4; null takes <see cref="DefaultQuantization"/>. Bits always
    /// follow <see cref="Precision"/>.
    /// </summary>
    public QuantizationOptions? Quantization { get; init; }
    /// <summary>PEFT LoRA adapters merged into the weights (W + scale·B·A in float32, before quantization), in order.</summary>
    public IReadOnlyList<AdapterMerge> Adapters { get; init; } = [];
    /// <summary>
    /// Give every linear layer of the body optional LoRA inputs (empty by default), so adapters prepared with
    /// <c>owonnx adapter</c> can be chosen at run time, per request, over this one base.
    /// </summary>
    public bool AdapterInputs { get; init; }

    /// <summary>
    /// Prompt positions that get logits: every one (what scoring a text needs) or each row's last (all that
    /// generation needs; faster prefill and no [prompt, vocab] buffer). The library keeps every position by
    /// default so that any caller can score; `owonnx convert` defaults to last (measurements in the README).
    /// </summary>
    public LogitsScope Logits { get; init; } = LogitsScope.All;

    /// <summary>
    /// q/k/v as one product and gate/up as one, split after (onnxruntime-genai's packed form); false writes one
    /// product per projection (for comparing the two; measurements in the README's performance section).
    /// </summary>
    public bool PackProjections { get; init; } = true;

    /// <summary>
    /// What the graph computes in; null takes <see cref="EffectiveCompute"/>'s default: fp32 on the CPU (ONNX
    /// Runtime's CPU kernels are fastest and exact in float32), fp16 for CUDA and TensorRT (CUDA's
    /// GroupQueryAttention has no float32 kernel). bf16 has float32's range: for models whose activations
    /// overflow fp16 (the Gemma family).
    /// </summary>
    public ComputeType? Compute { get; init; }

    /// <summary>
    /// Mixture-of-experts layers computed from standard ops with every expert on every token (exact; E/k× the
    /// active work) rather than by ONNX Runtime's MoE/QMoE, which run the routed experts only. fp32/fp16 only: a
    /// baseline for measuring the routed form, or for a runtime without those contrib ops.
    /// </summary>
    public bool DenseExperts { get; init; }

    public ComputeType EffectiveCompute => Compute ?? (Target == ExecutionTarget.Cpu ? ComputeType.Fp32 : ComputeType.Fp16);

    public bool IsQuantized => Precision is Precision.Int8 or Precision.Int4;

    /// <summary>
    /// Defaults measured on the trained sample (README table): MSE-searched symmetric scales, INT8 LM head (the
    /// head dominates INT4 error), and on CPU an INT8 token table (no measurable quality cost, 1.5 MB smaller).
    /// Blocks of 32 for INT4 (64 and 128 miss the +0.2 % perplexity bar) and of 128 for INT8: INT8 error is far
    /// below that bar at any block size, and ORT's prepacked INT8 layout holds two floats per block, so larger
    /// blocks read fewer bytes per token (README performance section). On CUDA the table stays float: ORT's
    /// CUDA GatherBlockQuantized takes only fp16/bf16 scales.
    /// </summary>
    public QuantizationOptions DefaultQuantization => new()
    {
        Bits = Precision == Precision.Int8 ? 8 : 4,
        BlockSize = Precision == Precision.Int8 ? QuantizationOptions.Int8.BlockSize : QuantizationOptions.Int4.BlockSize,
        FitExpertBlocks = true,
        LmHeadBits = 8,
        Embedding = Target == ExecutionTarget.Cpu ? EmbeddingPrecision.Int8 : EmbeddingPrecision.Float,
    };

    /// <summary>The settings used for a quantized conversion (null for fp32/fp16).</summary>
    public QuantizationOptions? EffectiveQuantization => IsQuantized
        ? (Quantization ?? DefaultQuantization) with { Bits = Precision == Precision.Int8 ? 8 : 4 }
        : null;

    public void Validate()
    {
        if (!Enum.IsDefined(Precision))
            throw new ArgumentException($"unknown precision {(int)Precision}; use fp32, fp16, int8 or int4.");
        if (!Enum.IsDefined(Logits))
            throw new ArgumentException($"unknown logits scope {(int)Logits}; use all or last.");
        if (Compute is { } c && !Enum.IsDefined(c))
            throw new ArgumentException($"unknown compute type {(int)c}; use fp32, fp16 or bf16.");
        if (!Enum.IsDefined(Target))
            throw new ArgumentException($"unknown execution target {(int)Target}; use cpu, cuda or tensorrt.");
        if (!IsQuantized && Quantization is not null)
            throw new ArgumentException(
                $"quantization options (block size, asymmetric, accuracy level, LM head, embedding) apply to int8 and int4, not {Precision.ToString().ToLowerInvariant()}.");
        if (DenseExperts && IsQuantized)
            throw new ArgumentException(
                $"dense (all-experts) mixture-of-experts layers take float experts only; convert in fp32 or fp16, or drop the dense-experts option for {Precision.ToString().ToLowerInvariant()}.");
        EffectiveQuantization?.Validate();
        foreach (var adapter in Adapters)
            if (!float.IsFinite(adapter.Scale))
                throw new ArgumentException($"--lora-scale {adapter.Scale} for {adapter.Directory} must be a finite number.");
    }
}
