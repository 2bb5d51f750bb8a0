using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OpenWeights.Onnx;

/// <summary>Which prompt positions a decoder graph returns logits for.</summary>
public enum LogitsScope
{
    /// <summary>Every position, [batch, sequence, vocab]: what scoring a text (eval, parity tests) needs.</summary>
    All,
    /// <summary>Each row's last real position only, [batch, 1, vocab]: all that generation samples from.</summary>
    Last,
}

/// <summary>The element type a graph computes in: activations, KV cache, norms, rotary tables, quantization scales.</summary>
public enum ComputeType { Fp32, Fp16, Bf16 }

/// <summary>
/// The contract between a converted decoder graph and whatever runs it — our runtime, onnxruntime-genai, the
/// tests — in one place. Inputs: <c>input_ids</c> int64 [batch, sequence]; <c>attention_mask</c> int64
/// [batch, total_sequence] (rows right-padded; positions and GroupQueryAttention's lengths are derived from it,
/// so there is no <c>position_ids</c> input); <c>past_key_values.%d.key|value</c> [batch, kv_heads,
/// past_sequence, head_size] in the KV type. Outputs: <c>logits</c> float32 [batch, sequence or 1, vocab] (1 when
/// <see cref="LogitsScope.Last"/>); <c>present.%d.key|value</c> [batch, kv_heads, total_sequence, head_size].
/// The per-model parts (KV type, logits scope) are read from the graph itself, the way onnxruntime-genai reads
/// them (element type of the past inputs; a static 1 as the logits' second dimension), so genai_config.json —
/// which genai parses strictly — needs no extra keys.
/// </summary>
public sealed record DecoderIo
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string Logits = "logits";
    public const string PastKeyFormat = "past_key_values.%d.key";
    public const string PastValueFormat = "past_key_values.%d.value";
    public const string PresentKeyFormat = "present.%d.key";
    public const string PresentValueFormat = "present.%d.value";

    public const string BatchDim = "batch_size";
    public const string SequenceDim = "sequence_length";
    public const string PastSequenceDim = "past_sequence_length";
    public const string TotalSequenceDim = "total_sequence_length";

    public const TensorElementType IdsType = TensorElementType.Int64;
    public const TensorElementType MaskType = TensorElementType.Int64;
    /// <summary>Logits are float32 whatever the graph computes in: sampling and eval read them on the host.</summary>
    public const TensorElementType LogitsType = TensorElementType.Float;

    /// <summary>model.onnx metadata naming what the graph computes in, for people and `inspect` (the graph is the truth).</summary>
    public const string ComputeMetadataKey = "owonnx.compute";
    public const string LogitsMetadataKey = "owonnx.logits";

    /// <summary>Element type of the past/present buffers (the compute type).</summary>
    public TensorElementType KvType { get; init; } = TensorElementType.Float;
    public LogitsScope LogitsScope { get; init; } = LogitsScope.All;

    public static string PastKey(int layer) => ForLayer(PastKeyFormat, layer);
    public static string PastValue(int layer) => ForLayer(PastValueFormat, layer);
    public static string PresentKey(int layer) => ForLayer(PresentKeyFormat, layer);
    public static string PresentValue(int layer) => ForLayer(PresentValueFormat, layer);

    /// <summary>A genai_config-style name format ("%d" for the layer) for one layer.</summary>
    public static string ForLayer(string format, int layer) => format.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static TensorElementType ElementType(ComputeType compute) => compute switch
    {
        ComputeType.Fp32 => TensorElementType.Float,
        ComputeType.Fp16 => TensorElementType.Float16,
        ComputeType.Bf16 => TensorElementType.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(compute), compute, "unknown compute type"),
    };

    /// <summary>Bytes per element of a KV/compute type.</summary>
    public static int SizeOf(TensorElementType type) => type switch
    {
        TensorElementType.Float => 4,
        TensorElementType.Float16 or TensorElementType.BFloat16 => 2,
        _ => throw new NotSupportedException($"{type} is not a compute type of a converted decoder (float, float16 or bfloat16)."),
    };

    /// <summary>
    /// Reads the per-model parts from a loaded graph, by the rules onnxruntime-genai applies to the same graph.
    /// <paramref name="pastKey"/> and <paramref name="logits"/> are the names genai_config.json gives.
    /// </summary>
    public static DecoderIo Of(InferenceSession session, string pastKey, string logits)
    {
        if (!session.InputMetadata.TryGetValue(pastKey, out var past))
            throw new Runtime.ModelLoadException($"the model has no input '{pastKey}' (named by genai_config.json); inputs: {string.Join(", ", session.InputMetadata.Keys)}.");
        if (!session.OutputMetadata.TryGetValue(logits, out var output))
            throw new Runtime.ModelLoadException($"the model has no output '{logits}' (named by genai_config.json).");
        if (output.ElementDataType != LogitsType)
            throw new Runtime.ModelLoadException($"the model's '{logits}' are {output.ElementDataType}; this runtime reads float32 logits.");
        if (past.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16))
            throw new Runtime.ModelLoadException($"the model's '{pastKey}' is {past.ElementDataType}; a KV cache is float, float16 or bfloat16.");
        return new DecoderIo
        {
            KvType = past.ElementDataType,
            LogitsScope = output.Dimensions is [_, 1, _] ? LogitsScope.Last : LogitsScope.All,
        };
    }
}
